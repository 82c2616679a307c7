//! The lifecycle function currently changing a conversation, as the audit
//! trigger sees it. Kept in backend memory (not in a setting), so nothing an
//! application role can `SET` changes what the audit trail records.

use std::cell::RefCell;

use pgrx::prelude::*;

struct Pending {
    /// None: whichever conversation the function's one UPDATE picks.
    conversation_id: Option<pgrx::Uuid>,
    kind: &'static str,
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
        kind: &'static str,
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
                .then(|| vec![Some(pending.kind.to_owned()), pending.reason.clone()])
        })
    })
}

/// `support.restoring()`: true while a role that bypasses row-level security
/// (superuser, BYPASSRLS, or a member of the tables' owner) runs with
/// `row_security = off` — what pg_dump scripts and pg_restore do. The triggers
/// then take rows as given and write no events (the dump carries them).
///
/// The role asked is the *outer* one (`SET ROLE`, not the owner a SECURITY
/// DEFINER function runs as): an application role that sets
/// `row_security = off` and calls a lifecycle function is not restoring, so
/// its change is audited.
#[pg_extern(stable, parallel_restricted, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn restoring() -> bool {
    // SAFETY: reads a GUC variable of the backend.
    if unsafe { pg_sys::row_security } {
        return false;
    }
    // SAFETY: plain reads of the backend's role state and the role catalog.
    let outer = unsafe { pg_sys::GetOuterUserId() };
    if unsafe { pg_sys::superuser_arg(outer) || pg_sys::has_bypassrls_privilege(outer) } {
        return true;
    }
    Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.pg_has_role($1, c.relowner, 'USAGE') FROM pg_catalog.pg_class AS c \
          WHERE c.oid OPERATOR(pg_catalog.=) 'support.conversations'::pg_catalog.regclass",
        &[outer.into()],
    )
    .ok()
    .flatten()
    .unwrap_or(false)
}
