//! Workspace membership: what the RLS policies and the lifecycle functions ask.
//!
//! Both helpers are SECURITY DEFINER: they read `support.workspace_members`
//! past that table's own policy (which itself calls `member_workspaces()`).
//! They are presence-only: `role` is never consulted here.

use pgrx::prelude::*;

use crate::{identity, plans};

/// The workspaces `user` belongs to.
pub(crate) fn workspaces_of(user: pgrx::Uuid) -> Vec<pgrx::Uuid> {
    plans::run(
        "SELECT m.workspace_id FROM support.workspace_members AS m \
          WHERE m.user_id OPERATOR(pg_catalog.=) $1",
        plans::UUID1,
        false,
        &[user.into()],
        |rows| {
            rows.filter_map(|row| row.get::<pgrx::Uuid>(1).ok().flatten())
                .collect()
        },
    )
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
    plans::run(
        "SELECT EXISTS (SELECT 1 FROM support.workspace_members AS m \
          WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.user_id OPERATOR(pg_catalog.=) $2)",
        plans::UUID2,
        false,
        &[workspace_id.into(), user.into()],
        |mut rows| {
            rows.next()
                .and_then(|row| row.get::<bool>(1).ok().flatten())
                .unwrap_or(false)
        },
    )
}
