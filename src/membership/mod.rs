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
use crate::{citus, identity, plans};

mod cache;
pub(crate) mod planner;

/// The workspaces `user` belongs to. One row with the whole array
/// (`array_agg` in the executor) rather than one SPI row per membership: the
/// per-row cost dominated this function for users in thousands of workspaces.
pub(crate) fn workspaces_of(user: pgrx::Uuid) -> Result<Vec<pgrx::Uuid>> {
    citus::membership_read(
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

/// Runs `f` with `search_path` pinned to `pg_catalog, pg_temp`, as a
/// function's `SET search_path` clause would, for the SQL that the membership
/// cache runs. `workspace_member` has no `SET` clause: it runs per row under
/// every policy, where the clause alone would cost more than the rest of the
/// check (docs/security.md), and it runs SQL only on a cache miss, here. An
/// error unwinds the setting with the (sub)transaction, as for a `SET` clause.
pub(crate) fn pinned<R>(f: impl FnOnce() -> R) -> R {
    crate::gucs::with_setting(c"search_path", c"pg_catalog, pg_temp", f)
}

/// SQL: `$2` is support staff serving workspace `{workspace}` (staff access
/// allowed there, and the workspace in the staff user's scope), for one
/// workspace (docs/permissions.md#support-staff). The same rule is spelled
/// as a set in [`visible_workspaces_of`] (every served workspace in one pass)
/// and in `support.join_as_staff` (with the staff role); the adversarial
/// suite's `staff` family checks the three agree.
pub(crate) fn staff_serves_sql(workspace: &str) -> String {
    format!(
        "(EXISTS (SELECT 1 FROM support.staff AS s \
                  WHERE s.user_id OPERATOR(pg_catalog.=) $2 \
                    AND (s.all_workspaces \
                         OR EXISTS (SELECT 1 FROM support.staff_workspaces AS sw \
                                     WHERE sw.workspace_id OPERATOR(pg_catalog.=) {workspace} \
                                       AND sw.user_id OPERATOR(pg_catalog.=) $2))) \
          AND EXISTS (SELECT 1 FROM support.workspaces AS w \
                       WHERE w.id OPERATOR(pg_catalog.=) {workspace} AND w.staff_access))"
    )
}

/// The workspaces `user` reads, each with `user`'s effective role there
/// (see [`Role`]): their memberships, and as support staff the workspaces they
/// serve without membership, as viewer (what the policies check, and what the
/// write checks ask). Unsorted; a workspace may appear twice (membership
/// first: rank 0).
pub(crate) fn visible_workspaces_of(user: pgrx::Uuid) -> Result<Vec<(pgrx::Uuid, i32, Role)>> {
    // One row per (rank, role) with the array of workspaces: no per-workspace
    // row or string crosses SPI (a member of 10,000 workspaces loads in one
    // pass over the index on (user_id, workspace_id)). The caller's own kind
    // is read once (u), not joined per membership.
    static MEMBERSHIPS: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT m.workspace_id AS id, 0 AS rank, {EFFECTIVE_ROLE_SQL} AS role \
               FROM support.workspace_members AS m, \
                    (SELECT u.kind FROM support.users AS u WHERE u.id OPERATOR(pg_catalog.=) $1) AS u \
              WHERE m.user_id OPERATOR(pg_catalog.=) $1"
        )
    });
    static WITH_STAFF: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT x.rank, x.role, pg_catalog.array_agg(x.id) FROM ( \
                {memberships} \
                UNION ALL \
                SELECT w.id, 1, 'viewer' FROM support.staff AS s JOIN support.workspaces AS w ON w.staff_access \
                 WHERE s.user_id OPERATOR(pg_catalog.=) $1 AND s.all_workspaces \
                UNION ALL \
                SELECT sw.workspace_id, 1, 'viewer' FROM support.staff AS s \
                  JOIN support.staff_workspaces AS sw ON sw.user_id OPERATOR(pg_catalog.=) s.user_id \
                  JOIN support.workspaces AS w ON w.id OPERATOR(pg_catalog.=) sw.workspace_id AND w.staff_access \
                 WHERE s.user_id OPERATOR(pg_catalog.=) $1 AND NOT s.all_workspaces) AS x \
             GROUP BY x.rank, x.role",
            memberships = *MEMBERSHIPS
        )
    });
    static MEMBERS_ONLY: LazyLock<String> = LazyLock::new(|| {
        format!(
            "SELECT x.rank, x.role, pg_catalog.array_agg(x.id) FROM ({memberships}) AS x \
             GROUP BY x.rank, x.role",
            memberships = *MEMBERSHIPS
        )
    });
    // A 0.3.0 schema (before ALTER EXTENSION UPDATE) has no staff yet.
    let sql: &str = if staff_table_missing() {
        &MEMBERS_ONLY
    } else {
        &WITH_STAFF
    };
    citus::membership_read(sql, plans::UUID1, false, &[user.into()], |rows| {
        let mut out = Vec::new();
        for row in rows {
            let rank: i32 = column(&row, 1, "rank")?;
            let role: String = column(&row, 2, "workspace_members.role")?;
            let Some(role) = Role::parse(&role) else {
                return Err(Internal::Unexpected {
                    what: "workspace_members.role",
                    value: role,
                });
            };
            let ids: Vec<pgrx::Uuid> = column(&row, 3, "workspaces")?;
            out.extend(ids.into_iter().map(|id| (id, rank, role)));
        }
        Ok(out)
    })
}

/// `support.member_workspaces()`: the ids of the workspaces the current user
/// belongs to (empty for nobody), in uuid order.
#[pg_extern(stable, security_definer, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn member_workspaces() -> Vec<pgrx::Uuid> {
    match identity::current_user() {
        Some(user) => cache::members(user).or_raise().sorted().to_vec(),
        None => Vec::new(),
    }
}

/// The workspaces `user` reads (memberships and, for support staff, the
/// workspaces they serve), from the membership cache, in uuid order.
pub(crate) fn visible_workspaces(user: pgrx::Uuid) -> Result<Vec<pgrx::Uuid>> {
    Ok(cache::members(user)?.sorted().to_vec())
}

/// `support.workspace_member(workspace_id)`: is the current user a member?
/// Every row-level security policy is this call on the row's workspace_id,
/// and it runs once per row: the identity is re-read from the settings
/// (a few pointer reads once the backend has found them) and the cached
/// membership set re-checked against the active snapshot (a comparison of a
/// few integers: see [`cache`]) before the binary search. Its planner
/// support ([`planner`]) adds the equivalent index condition where nothing
/// else serves the query. No `SET search_path` clause: see [`pinned`].
///
/// The SQL function (sql/05_workspace_member.sql) calls the C entry point
/// [`workspace_member_wrapper`] directly: when every input is as it was at
/// the previous call (the usual case from one row to the next) the answer is
/// found without pgrx's per-call machinery; otherwise this function decides,
/// under pgrx's error guard.
pub(crate) fn workspace_member(workspace_id: pgrx::Uuid) -> bool {
    match identity::current_user() {
        Some(user) => cache::members(user).or_raise().contains(&workspace_id),
        None => false,
    }
}

/// `pg_finfo` of [`workspace_member_wrapper`]: a version-1 C function.
#[no_mangle]
#[doc(hidden)]
pub extern "C" fn pg_finfo_workspace_member_wrapper() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// The C entry point of `support.workspace_member(uuid)` (STRICT: the
/// argument is never NULL). The quick answer reads only what the previous
/// call left (the identity settings' values as last parsed, the cached set
/// as last checked against this very snapshot); it allocates nothing, calls
/// nothing that can raise an error, and any doubt, or a panic, sends the
/// call to [`workspace_member`] under pgrx's guard, which decides it in
/// full and updates what the next quick answer reads.
///
/// # Safety
///
/// Called by PostgreSQL's function manager with a valid `fcinfo` of one
/// `uuid` argument.
#[no_mangle]
#[doc(hidden)]
pub unsafe extern "C-unwind" fn workspace_member_wrapper(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    // SAFETY: see the function's contract; a uuid is 16 bytes by reference.
    let workspace = unsafe { uuid_argument(fcinfo) };
    let quick = std::panic::catch_unwind(|| {
        let user = identity::current_user_quick()?;
        match user {
            Some(user) => cache::contains_quick(user, &workspace),
            None => Some(false),
        }
    });
    // Settled (a panic's payload dropped) before the full check, which may
    // leave by PostgreSQL's longjmp: no value with a destructor may be alive
    // in this frame then.
    let quick = quick.unwrap_or_default();
    match quick {
        Some(answer) => pg_sys::Datum::from(answer),
        None => workspace_member_decided(workspace),
    }
}

/// The argument of a one-`uuid` call.
///
/// # Safety
///
/// `fcinfo` holds at least one argument, a non-NULL uuid datum.
unsafe fn uuid_argument(fcinfo: pg_sys::FunctionCallInfo) -> pgrx::Uuid {
    // SAFETY: per the contract; pg_uuid_t is 16 bytes, byte-aligned.
    unsafe {
        let datum = (*fcinfo).args.as_slice(1)[0].value;
        let bytes = std::ptr::read_unaligned(datum.cast_mut_ptr::<[u8; 16]>());
        pgrx::Uuid::from_bytes(bytes)
    }
}

/// [`workspace_member`] under pgrx's guard (errors become PostgreSQL errors).
#[pg_guard]
extern "C-unwind" fn workspace_member_decided(workspace: pgrx::Uuid) -> pg_sys::Datum {
    pg_sys::Datum::from(workspace_member(workspace))
}

/// `support.shares_workspace(user_id)`: is `user_id` the current user, or a
/// member of one of the current user's workspaces? The policy of
/// `support.users`.
#[pg_extern(stable, strict, security_definer, parallel_restricted, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn shares_workspace(user_id: pgrx::Uuid) -> bool {
    let Some(me) = identity::current_user() else {
        return false;
    };
    if me == user_id {
        return true;
    }
    let theirs = workspaces_of(user_id).or_raise();
    let mine = cache::members(me).or_raise();
    theirs.iter().any(|w| mine.contains(w))
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
    // The current user's role without a lock: from the membership cache,
    // checked against the active snapshot like a read of the tables.
    if !lock && identity::current_user() == Some(user) {
        return Ok(cache::members(user)?.role(&workspace_id));
    }
    member_role(workspace_id, user, lock).and_then(|role| match role {
        Some(role) => Ok(Some(role)),
        None if staff_serves(workspace_id, user)? => Ok(Some(Role::Viewer)),
        None => Ok(None),
    })
}

/// `user`'s effective role from their membership alone (None when not a
/// member, staff or not): what a transfer target must have, since members
/// do not see support staff who have not joined.
pub(crate) fn member_role(
    workspace_id: pgrx::Uuid,
    user: pgrx::Uuid,
    lock: bool,
) -> Result<Option<Role>> {
    let sql: &str = if lock { &ROLE_OF_LOCKED } else { &ROLE_OF };
    citus::membership_read(
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

static STAFF_SERVES: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {}", staff_serves_sql("$1")));

/// Is the schema older than support staff (0.3.0, before `ALTER EXTENSION
/// ... UPDATE`)?
pub(crate) fn staff_table_missing() -> bool {
    cache::support_table(c"staff").is_none()
}

/// Is `user` support staff serving `workspace_id`?
pub(crate) fn staff_serves(workspace_id: pgrx::Uuid, user: pgrx::Uuid) -> Result<bool> {
    if staff_table_missing() {
        return Ok(false); // a 0.3.0 schema: no staff yet
    }
    citus::membership_read(
        &STAFF_SERVES,
        plans::UUID2,
        false,
        &[workspace_id.into(), user.into()],
        |mut rows| match rows.next() {
            Some(row) => column(&row, 1, "staff_serves"),
            None => Ok(false),
        },
    )
}

/// `support.workspace_role(workspace_id)`: the current user's effective role
/// in the workspace (`owner`, `admin`, `agent`, `viewer`, or `bot` for a user
/// of kind bot; `viewer` for support staff serving it without having joined),
/// NULL otherwise. The triggers ask it before a write;
/// applications may ask it to show only the actions a member can take.
#[pg_extern(stable, security_definer, parallel_restricted, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn workspace_role(workspace_id: pgrx::Uuid) -> Option<String> {
    let user = identity::current_user()?;
    effective_role(workspace_id, user, false)
        .or_raise()
        .map(|role| role.as_str().to_owned())
}
