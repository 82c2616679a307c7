//! Workspace membership: what the RLS policies and the lifecycle functions ask.
//!
//! Both helpers are SECURITY DEFINER: they read `support.workspace_members`
//! past that table's own policy (which itself calls `member_workspaces()`).
//! They are presence-only: `role` is never consulted here.

use std::cell::RefCell;

use pgrx::prelude::*;
use pgrx::spi::OwnedPreparedStatement;

use crate::identity;

const MEMBER_WORKSPACES_SQL: &str = "SELECT m.workspace_id FROM support.workspace_members AS m \
     WHERE m.user_id OPERATOR(pg_catalog.=) $1";

thread_local! {
    // Prepared once per backend and kept: the plan cache re-plans it when the
    // table or its indexes change, so keeping it is always correct.
    static MEMBER_WORKSPACES_PLAN: RefCell<Option<OwnedPreparedStatement>> = const { RefCell::new(None) };
}

/// The workspaces `user` belongs to.
pub(crate) fn workspaces_of(user: pgrx::Uuid) -> Vec<pgrx::Uuid> {
    Spi::connect(|client| {
        MEMBER_WORKSPACES_PLAN.with(|cell| {
            let mut plan = cell.borrow_mut();
            if plan.is_none() {
                let prepared = client
                    .prepare(MEMBER_WORKSPACES_SQL, &[pg_sys::UUIDOID.into()])
                    .unwrap_or_else(|e| error!("support.member_workspaces: cannot prepare: {e}"));
                *plan = Some(prepared.keep());
            }
            let plan = plan.as_ref().expect("plan was just prepared");
            let rows = client
                .select(plan, None, &[user.into()])
                .unwrap_or_else(|e| error!("support.member_workspaces: {e}"));
            rows.filter_map(|row| row.get::<pgrx::Uuid>(1).ok().flatten())
                .collect()
        })
    })
}

/// `support.member_workspaces()`: the ids of the workspaces the current user
/// belongs to (empty for nobody). Policies use it as
/// `workspace_id = ANY ((SELECT support.member_workspaces())::uuid[])`, evaluated once
/// per statement.
#[pg_extern(stable, security_definer, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn member_workspaces() -> Vec<pgrx::Uuid> {
    match identity::current_user() {
        Some(user) => workspaces_of(user),
        None => Vec::new(),
    }
}

/// `support.workspace_member(workspace_id)`: is the current user a member?
#[pg_extern(stable, security_definer, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn workspace_member(workspace_id: pgrx::Uuid) -> bool {
    match identity::current_user() {
        Some(user) => is_member(workspace_id, user),
        None => false,
    }
}

/// Is `user` a member of `workspace_id`?
pub(crate) fn is_member(workspace_id: pgrx::Uuid, user: pgrx::Uuid) -> bool {
    Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM support.workspace_members AS m \
          WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.user_id OPERATOR(pg_catalog.=) $2)",
        &[workspace_id.into(), user.into()],
    )
    .unwrap_or_else(|e| error!("support.workspace_member: {e}"))
    .unwrap_or(false)
}
