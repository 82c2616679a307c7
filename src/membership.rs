//! Workspace membership: what the RLS policies and the write checks ask.
//!
//! The helpers are SECURITY DEFINER: they read `support.workspace_members`
//! past that table's own policy (which itself calls `member_workspaces()`).
//! `member_workspaces` and `workspace_member` are presence-only (what the
//! policies ask); `workspace_role` gives the role that decides what a member
//! may write and do (docs/permissions.tsv). docs/api.md documents each.

use std::sync::LazyLock;

use pgrx::prelude::*;

use crate::errors::{Internal, OrRaise, Result};
use crate::lifecycle::model::Role;
use crate::plans::column;
use crate::{identity, plans};

/// The workspaces `user` belongs to. One row with the whole array
/// (`array_agg` in the executor) rather than one SPI row per membership: the
/// per-row cost dominated this function for users in thousands of workspaces.
pub(crate) fn workspaces_of(user: pgrx::Uuid) -> Result<Vec<pgrx::Uuid>> {
    plans::run(
        "SELECT pg_catalog.array_agg(m.workspace_id) FROM support.workspace_members AS m \
          WHERE m.user_id OPERATOR(pg_catalog.=) $1",
        plans::UUID1,
        false,
        &[user.into()],
        |mut rows| match rows.next() {
            // array_agg over no rows is NULL: no memberships.
            Some(row) => Ok(row.get::<Vec<pgrx::Uuid>>(1)?.unwrap_or_default()),
            None => Ok(Vec::new()),
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
        Some(user) => workspaces_of(user).or_raise(),
        None => Vec::new(),
    }
}

/// `support.workspace_member(workspace_id)`: is the current user a member?
#[pg_extern(stable, security_definer, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn workspace_member(workspace_id: pgrx::Uuid) -> bool {
    match identity::current_user() {
        Some(user) => is_member(workspace_id, user).or_raise(),
        None => false,
    }
}

/// Is `user` a member of `workspace_id`?
pub(crate) fn is_member(workspace_id: pgrx::Uuid, user: pgrx::Uuid) -> Result<bool> {
    plans::run(
        "SELECT EXISTS (SELECT 1 FROM support.workspace_members AS m \
          WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.user_id OPERATOR(pg_catalog.=) $2)",
        plans::UUID2,
        false,
        &[workspace_id.into(), user.into()],
        |mut rows| match rows.next() {
            Some(row) => column(&row, 1, "EXISTS"),
            None => Ok(false),
        },
    )
}

/// SQL: the effective role (see [`Role`]) of membership `m` joined with its
/// user `u`. The one spelling of the rule "a bot acts as bot unless viewer".
pub(crate) const EFFECTIVE_ROLE_SQL: &str =
    "CASE WHEN u.kind OPERATOR(pg_catalog.=) 'bot' AND m.role OPERATOR(pg_catalog.<>) 'viewer' \
          THEN 'bot' ELSE m.role END";

/// `$2`'s effective role in workspace `$1`, and the same with the membership
/// row locked `FOR SHARE`.
static ROLE_OF: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {EFFECTIVE_ROLE_SQL} \
           FROM support.workspace_members AS m \
           JOIN support.users AS u ON u.id OPERATOR(pg_catalog.=) m.user_id \
          WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 AND m.user_id OPERATOR(pg_catalog.=) $2"
    )
});
static ROLE_OF_LOCKED: LazyLock<String> = LazyLock::new(|| format!("{} FOR SHARE OF m", *ROLE_OF));

/// `user`'s effective role in `workspace_id` (see [`Role`]), None when not a
/// member. `lock` takes the membership row `FOR SHARE`, so a concurrent
/// demotion waits for the caller's transaction (and vice versa).
pub(crate) fn effective_role(
    workspace_id: pgrx::Uuid,
    user: pgrx::Uuid,
    lock: bool,
) -> Result<Option<Role>> {
    let sql: &str = if lock { &ROLE_OF_LOCKED } else { &ROLE_OF };
    plans::run(
        sql,
        plans::UUID2,
        lock,
        &[workspace_id.into(), user.into()],
        |mut rows| {
            let Some(row) = rows.next() else {
                return Ok(None);
            };
            let value: String = column(&row, 1, "workspace_members.role")?;
            match Role::parse(&value) {
                Some(role) => Ok(Some(role)),
                None => Err(Internal::Unexpected {
                    what: "workspace_members.role",
                    value,
                }),
            }
        },
    )
}

/// `support.workspace_role(workspace_id)`: the current user's effective role
/// in the workspace (`owner`, `admin`, `agent`, `viewer`, or `bot` for a user
/// of kind bot), NULL when not a member. The triggers ask it before a write;
/// applications may ask it to show only the actions a member can take.
#[pg_extern(stable, security_definer, parallel_restricted, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn workspace_role(workspace_id: pgrx::Uuid) -> Option<String> {
    let user = identity::current_user()?;
    effective_role(workspace_id, user, false)
        .or_raise()
        .map(|role| role.as_str().to_owned())
}
