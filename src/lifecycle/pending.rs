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
    /// The user making the change, when the audit trigger cannot know it
    /// (on Citus it fires on another node); None: support.current_user_id().
    actor: Option<pgrx::Uuid>,
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
                actor: None,
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

/// `support.lifecycle_pending(conversation_id)`: `{kind, reason, actor}` of
/// the lifecycle function changing that conversation right now, or NULL.
/// Called by the `conversations_audit` trigger, once per change: the answer
/// is taken (a change is recorded once). Not granted to application roles.
#[pg_extern(volatile, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn lifecycle_pending(conversation_id: pgrx::Uuid) -> Option<Vec<Option<String>>> {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        let applies = p.as_ref().is_some_and(|pending| {
            pending
                .conversation_id
                .is_none_or(|id| id == conversation_id)
        });
        if !applies {
            return None;
        }
        p.take().map(|pending| {
            vec![
                Some(pending.kind.as_str().to_owned()),
                pending.reason,
                pending.actor.map(|a| a.to_string()),
            ]
        })
    })
}

/// `support.lifecycle_mark(conversation_id, kind, reason, actor)`: on Citus,
/// the lifecycle function's UPDATE carries its audit record to the node that
/// holds the row: an extra `RETURNING` column, evaluated there for the row
/// the UPDATE changed, before the statement's AFTER triggers run. The same
/// record [`PendingChange`] keeps on a single server. Taken by the audit
/// trigger, and forgotten at the end of the transaction whatever happens.
/// Always true. Not granted to application roles: the UPDATE runs as the
/// extension's owner (the lifecycle functions are SECURITY DEFINER).
///
/// Declared IMMUTABLE because Citus accepts nothing else in the RETURNING
/// list of an UPDATE on a distributed table. Nothing is folded: its first
/// argument is the row's id, so it runs once per row returned, and what it
/// changes is this backend's record for the audit trigger only.
#[pg_extern(immutable, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
pub fn lifecycle_mark(
    conversation_id: pgrx::Uuid,
    kind: &str,
    reason: Option<String>,
    actor: pgrx::Uuid,
) -> bool {
    let Some(kind) = EventKind::parse(kind) else {
        crate::errors::Internal::Unexpected {
            what: "lifecycle_mark kind",
            value: kind.to_owned(),
        }
        .raise()
    };
    PENDING.with(|p| {
        *p.borrow_mut() = Some(Pending {
            conversation_id: Some(conversation_id),
            kind,
            reason,
            actor: Some(actor),
        });
    });
    true
}

/// Forgets any record at the end of each transaction (a mark whose UPDATE
/// changed nothing must not reach a later one on the same connection).
#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    if crate::transaction_ends(event) {
        PENDING.with(|p| p.borrow_mut().take());
    }
}

/// Registers [`on_xact`], once per backend (from `_PG_init`).
pub(crate) fn init() {
    // SAFETY: plain registration of a C callback that lives as long as the library.
    unsafe { pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut()) }
}
