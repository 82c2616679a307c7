//! The lifecycle function currently changing a conversation (its event kind
//! and reason), as the audit trigger `conversations_audit` reads it. Kept in
//! backend memory (not in a setting), so nothing an application role can
//! `SET` changes what the audit trail records.

use std::cell::RefCell;

use pgrx::prelude::*;

use super::model::EventKind;

struct Pending {
    /// None: whichever conversation the function's one UPDATE picks.
    conversation_id: Option<pgrx::Uuid>,
    kind: EventKind,
    reason: Option<String>,
}

thread_local! {
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
}

/// Marks the change a lifecycle function is about to make; cleared when the
/// guard drops (also when the UPDATE raises: pgrx unwinds Rust frames).
pub(crate) struct PendingChange;

impl PendingChange {
    pub(crate) fn new(
        conversation_id: Option<pgrx::Uuid>,
        kind: EventKind,
        reason: Option<String>,
    ) -> Self {
        PENDING.with(|p| {
            *p.borrow_mut() = Some(Pending {
                conversation_id,
                kind,
                reason,
            });
        });
        PendingChange
    }
}

impl Drop for PendingChange {
    fn drop(&mut self) {
        PENDING.with(|p| p.borrow_mut().take());
    }
}

/// `support.lifecycle_pending(conversation_id)`: `{kind, reason}` of the
/// lifecycle function changing that conversation right now, or NULL. Called by
/// the `conversations_audit` trigger; not granted to application roles.
#[pg_extern(volatile, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn lifecycle_pending(conversation_id: pgrx::Uuid) -> Option<Vec<Option<String>>> {
    PENDING.with(|p| {
        p.borrow().as_ref().and_then(|pending| {
            pending
                .conversation_id
                .is_none_or(|id| id == conversation_id)
                .then(|| {
                    vec![
                        Some(pending.kind.as_str().to_owned()),
                        pending.reason.clone(),
                    ]
                })
        })
    })
}
