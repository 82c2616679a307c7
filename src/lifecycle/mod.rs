//! The conversation lifecycle (bot → human handoff), as functions. A plain
//! UPDATE of the lifecycle columns is refused by the `conversations_before_update`
//! trigger for every role subject to RLS, so these are the only way in.
//!
//! ```text
//!  active ──escalate──▶ escalated ──claim / claim_next──▶ claimed ──resolve──▶ resolved
//!    │                    ▲   ▲                            │  ▲ │                  │
//!    └──────resolve───────┼───┼────────────────────────────┼──┼─┼──────────────────┤
//!                         │   └──release / owner removed───┘  └─transfer           │
//!                         └──────────────────reopen────────────────────────────────┘
//! ```
//!
//! Who may call what is docs/permissions.tsv (rows `lifecycle.*`); docs/api.md
//! documents each function. Each function is SECURITY DEFINER (it writes
//! columns the caller cannot) and therefore checks membership itself: a
//! conversation of another workspace is "not found", exactly like an id that
//! does not exist. Changes take the row lock first (`FOR UPDATE`), so under
//! READ COMMITTED concurrent calls are serialised per conversation and each
//! sees the winner's state; under REPEATABLE READ / SERIALIZABLE a lost race
//! raises 40001 (retry). The caller's (and a transfer target's) membership
//! row is locked `FOR SHARE`, so a demotion racing a claim waits for it.

pub(crate) mod model;
pub(crate) mod pending;
pub(crate) mod unassign;

use std::sync::LazyLock;

use pgrx::prelude::*;
use pgrx::spi::SpiHeapTupleData;

use crate::errors::{OrRaise, Result};
use crate::plans::{column, TEXT, UUID2, UUID3};
use crate::{citus, errors, identity, membership, plans};
use model::{EventKind, Role, Status};
use pending::PendingChange;

type ConversationRow = pgrx::composite_type!('static, "support.conversations");

/// 42501 unless `allowed(role)`.
fn require(role: Role, allowed: fn(Role) -> bool, action: &str) {
    if !allowed(role) {
        errors::role_cannot(role.as_str(), action);
    }
}

/// A conversation the caller is a member of, locked for update.
struct Locked {
    id: pgrx::Uuid,
    workspace_id: pgrx::Uuid,
    status: Status,
    claimed_by: Option<pgrx::Uuid>,
    /// The caller's effective role in the conversation's workspace.
    role: Role,
}

impl Locked {
    /// Conversation `id` from a row whose columns 1 to 3 are its workspace_id,
    /// status and claimed_by, with the caller's `role`.
    fn from_row(id: pgrx::Uuid, row: &SpiHeapTupleData, role: Role) -> Result<Locked> {
        Ok(Locked {
            id,
            workspace_id: column(row, 1, "conversations.workspace_id")?,
            status: parse(
                column(row, 2, "conversations.status")?,
                "conversations.status",
                Status::parse,
            )?,
            claimed_by: row.get::<pgrx::Uuid>(3)?,
            role,
        })
    }

    /// For an action on a claimed conversation: its owner may, and so may a
    /// supervisor of the workspace; anyone else gets 42501.
    fn require_owner_or_supervisor(&self, user: pgrx::Uuid, action: &str) {
        require(self.role, Role::owns_conversations, action);
        if self.claimed_by != Some(user) && !self.role.supervises() {
            errors::not_owner(self.id, action);
        }
    }

    fn require_status(&self, wanted: Status, action: &str) {
        if self.status != wanted {
            errors::invalid_transition(self.id, self.status.as_str(), action, wanted.as_str());
        }
    }
}

/// Reads a status or role the database returned (its CHECK constraint
/// guarantees one of the closed set).
fn parse<T>(value: String, what: &'static str, parse: fn(&str) -> Option<T>) -> Result<T> {
    parse(&value).ok_or(errors::Internal::Unexpected { what, value })
}

/// Locks conversation `$1` if `$2` is a member of its workspace, and the
/// caller's membership row `FOR SHARE` (so a concurrent demotion waits).
static LOCK_VISIBLE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT c.workspace_id, c.status, c.claimed_by, {role} \
           FROM support.conversations AS c \
           JOIN support.workspace_members AS m \
             ON m.workspace_id OPERATOR(pg_catalog.=) c.workspace_id \
            AND m.user_id OPERATOR(pg_catalog.=) $2 \
           JOIN support.users AS u ON u.id OPERATOR(pg_catalog.=) m.user_id \
          WHERE c.id OPERATOR(pg_catalog.=) $1 \
          LIMIT 1 \
            FOR UPDATE OF c FOR SHARE OF m",
        role = membership::EFFECTIVE_ROLE_SQL
    )
});

/// A by-id statement with the conversation's workspace pinned too (`$3`):
/// on Citus, what routes it to the one shard that holds the row (a
/// multi-shard `FOR UPDATE` is refused).
fn pinned(sql: &str) -> String {
    const BY_ID: &str = "WHERE c.id OPERATOR(pg_catalog.=) $1";
    debug_assert_eq!(sql.matches(BY_ID).count(), 1);
    sql.replacen(
        BY_ID,
        "WHERE c.workspace_id OPERATOR(pg_catalog.=) $3 AND c.id OPERATOR(pg_catalog.=) $1",
        1,
    )
}

static LOCK_VISIBLE_PINNED: LazyLock<String> = LazyLock::new(|| pinned(&LOCK_VISIBLE));

/// Runs the statement `sql` (or its [`pinned`] form `pinned_sql` when the
/// workspace is given) with `$1` = the conversation, `$2` = the user.
fn run_by_id<R>(
    (sql, pinned_sql): (&str, &str),
    id: pgrx::Uuid,
    user: pgrx::Uuid,
    workspace: Option<pgrx::Uuid>,
    f: impl FnOnce(pgrx::spi::SpiTupleTable) -> Result<R>,
) -> Result<R> {
    match workspace {
        None => plans::run(sql, UUID2, true, &[id.into(), user.into()], f),
        Some(w) => plans::run(
            pinned_sql,
            UUID3,
            true,
            &[id.into(), user.into(), w.into()],
            f,
        ),
    }
}

/// Runs [`LOCK_VISIBLE`]: the conversation, or None when `user` cannot see it.
fn lock_visible(
    id: pgrx::Uuid,
    user: pgrx::Uuid,
    workspace: Option<pgrx::Uuid>,
) -> Result<Option<Locked>> {
    run_by_id(
        (&LOCK_VISIBLE, &LOCK_VISIBLE_PINNED),
        id,
        user,
        workspace,
        |mut rows| {
            let Some(row) = rows.next() else {
                return Ok(None);
            };
            let role = parse(
                column(&row, 4, "workspace_members.role")?,
                "workspace_members.role",
                Role::parse,
            )?;
            Locked::from_row(id, &row, role).map(Some)
        },
    )
}

/// Locks conversation `$1` if `$2` is support staff serving its workspace
/// without being a member: they see it, and act as a viewer.
static LOCK_STAFF_VISIBLE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT c.workspace_id, c.status, c.claimed_by \
           FROM support.conversations AS c \
          WHERE c.id OPERATOR(pg_catalog.=) $1 AND {serves} \
            FOR UPDATE OF c",
        serves = membership::staff_serves_sql("c.workspace_id")
    )
});

static LOCK_STAFF_VISIBLE_PINNED: LazyLock<String> = LazyLock::new(|| pinned(&LOCK_STAFF_VISIBLE));

/// Runs [`LOCK_STAFF_VISIBLE`].
fn lock_staff_visible(
    id: pgrx::Uuid,
    user: pgrx::Uuid,
    workspace: Option<pgrx::Uuid>,
) -> Result<Option<Locked>> {
    if membership::staff_table_missing() {
        return Ok(None); // a 0.3.0 schema: no staff yet
    }
    run_by_id(
        (&LOCK_STAFF_VISIBLE, &LOCK_STAFF_VISIBLE_PINNED),
        id,
        user,
        workspace,
        |mut rows| {
            let Some(row) = rows.next() else {
                return Ok(None);
            };
            Locked::from_row(id, &row, Role::Viewer).map(Some)
        },
    )
}

/// The conversation `id`, locked, or "not found" (also for another
/// workspace's conversation).
fn lock_or_not_found(id: pgrx::Uuid, user: pgrx::Uuid) -> Result<Locked> {
    let workspace = match citus::distributed()? {
        false => None,
        true => Some(
            citus::workspace_of(id, membership::visible_workspaces(user)?)?
                .unwrap_or_else(|| errors::conversation_not_found(id)),
        ),
    };
    if let Some(locked) = lock_visible(id, user, workspace)? {
        return Ok(locked);
    }
    Ok(lock_staff_visible(id, user, workspace)?
        .unwrap_or_else(|| errors::conversation_not_found(id)))
}

/// Locks a claimed conversation for an action its owner or a supervisor may
/// take (release, transfer); returns the caller too.
fn lock_claimed(id: pgrx::Uuid, action: &str) -> Result<(pgrx::Uuid, Locked)> {
    let user = identity::require_current_user();
    let locked = lock_or_not_found(id, user)?;
    require(locked.role, Role::owns_conversations, action);
    locked.require_status(Status::Claimed, action);
    locked.require_owner_or_supervisor(user, action);
    Ok((user, locked))
}

/// Runs the UPDATE of one transition and returns the new row. `set` may use
/// $3, bound to `user_arg`. On Citus the UPDATE also carries its audit
/// record to the row's node (`support.lifecycle_mark`, see [`citus`]).
fn apply(
    locked: &Locked,
    kind: EventKind,
    reason: Option<String>,
    set: &str,
    user_arg: Option<pgrx::Uuid>,
) -> Result<ConversationRow> {
    let mut args: Vec<pgrx::datum::DatumWithOid> =
        vec![locked.workspace_id.into(), locked.id.into()];
    let mut types = UUID2.to_vec();
    if let Some(u) = user_arg {
        args.push(u.into());
        types.push(UUID3[2]);
    }
    let mark = if citus::distributed()? {
        let actor = identity::require_current_user();
        let (r, a) = (args.len() + 1, args.len() + 2);
        args.push(reason.clone().into());
        types.push(TEXT);
        args.push(actor.into());
        types.push(UUID3[0]);
        format!(
            ", support.lifecycle_mark(c.id, '{kind}', ${r}, ${a})",
            kind = kind.as_str()
        )
    } else {
        String::new()
    };
    let _pending = PendingChange::new(Some(locked.id), kind, reason);
    let sql = format!(
        "UPDATE support.conversations AS c SET {set} \
          WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2 \
        RETURNING c{mark}"
    );
    // The row is locked by this transaction, so the UPDATE finds it.
    plans::run(&sql, &types, true, &args, |mut rows| match rows.next() {
        Some(row) => column(&row, 1, "the updated conversation"),
        None => errors::conversation_not_found(locked.id),
    })
}

/// The conversation as it is now (for idempotent answers).
fn current_row(locked: &Locked) -> Result<ConversationRow> {
    plans::run(
        "SELECT c FROM support.conversations AS c \
          WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2",
        UUID2,
        false,
        &[locked.workspace_id.into(), locked.id.into()],
        |mut rows| match rows.next() {
            Some(row) => column(&row, 1, "the conversation"),
            None => errors::conversation_not_found(locked.id),
        },
    )
}

/// SQL: the caller `$2` may own conversations in workspace `workspace` (a
/// human agent, admin or owner), with the membership row locked `FOR SHARE`:
/// a concurrent demotion waits, then this re-checks the role.
fn may_own_in(workspace: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM support.workspace_members AS m \
                   JOIN support.users AS u ON u.id OPERATOR(pg_catalog.=) m.user_id \
                  WHERE m.workspace_id OPERATOR(pg_catalog.=) {workspace} \
                    AND m.user_id OPERATOR(pg_catalog.=) $2 \
                    AND m.role OPERATOR(pg_catalog.=) ANY ({roles}::text[]) \
                    AND u.kind OPERATOR(pg_catalog.=) 'human' \
                    FOR SHARE OF m)",
        roles = Role::owning_sql_array()
    )
}

/// The claim UPDATE: takes `$1` if it is escalated and the caller `$2` may
/// own conversations in its workspace.
static CLAIM_BY_ID: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE support.conversations AS c \
            SET status = 'claimed', claimed_by = $2, claimed_at = pg_catalog.now() \
          WHERE c.id OPERATOR(pg_catalog.=) $1 \
            AND c.status OPERATOR(pg_catalog.=) 'escalated' \
            AND {may_own} \
        RETURNING c",
        may_own = may_own_in("c.workspace_id")
    )
});

/// The claim_next UPDATE: the oldest escalated conversation of workspace `$1`
/// (`FOR UPDATE SKIP LOCKED`), if the caller `$2` may own conversations there
/// (a one-time filter of the pick). The workspace is pinned in the UPDATE
/// itself: on Citus that routes it to the workspace's shard.
static CLAIM_NEXT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE support.conversations AS c \
            SET status = 'claimed', claimed_by = $2, claimed_at = pg_catalog.now() \
          WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 \
            AND c.id OPERATOR(pg_catalog.=) \
                (SELECT q.id FROM support.conversations AS q \
                  WHERE q.workspace_id OPERATOR(pg_catalog.=) $1 \
                    AND q.status OPERATOR(pg_catalog.=) 'escalated' \
                    AND {may_own} \
                  ORDER BY q.escalated_at, q.id \
                  LIMIT 1 \
                    FOR UPDATE SKIP LOCKED) \
        RETURNING c",
        may_own = may_own_in("$1")
    )
});

/// The audit record of a claim, carried by the claim UPDATE on Citus.
const CLAIM_MARK: &str = ", support.lifecycle_mark(c.id, 'claimed', NULL, $2)";

/// [`CLAIM_BY_ID`] on Citus: pinned to the workspace (`$3`), marked.
static CLAIM_BY_ID_CITUS: LazyLock<String> =
    LazyLock::new(|| format!("{}{CLAIM_MARK}", pinned(&CLAIM_BY_ID)));

/// [`CLAIM_NEXT`] on Citus: marked.
static CLAIM_NEXT_CITUS: LazyLock<String> =
    LazyLock::new(|| format!("{}{CLAIM_MARK}", *CLAIM_NEXT));

/// Which claim [`run_claim`] makes.
enum Claim {
    /// Conversation `id`, if escalated.
    ById(pgrx::Uuid),
    /// The oldest escalated conversation of the workspace.
    Next(pgrx::Uuid),
}

/// Runs a claim statement for `user`: None when nothing was claimed.
fn run_claim(claim: Claim, user: pgrx::Uuid) -> Result<Option<ConversationRow>> {
    let on_citus = citus::distributed()?;
    let (sql, only, args): (&str, _, Vec<pgrx::datum::DatumWithOid>) = match claim {
        Claim::ById(id) if on_citus => {
            let Some(workspace) = citus::workspace_of(id, membership::visible_workspaces(user)?)?
            else {
                return Ok(None);
            };
            (
                &CLAIM_BY_ID_CITUS,
                Some(id),
                vec![id.into(), user.into(), workspace.into()],
            )
        }
        Claim::ById(id) => (&CLAIM_BY_ID, Some(id), vec![id.into(), user.into()]),
        Claim::Next(w) if on_citus => (&CLAIM_NEXT_CITUS, None, vec![w.into(), user.into()]),
        Claim::Next(w) => (&CLAIM_NEXT, None, vec![w.into(), user.into()]),
    };
    let types = if args.len() == 3 { UUID3 } else { UUID2 };
    let _pending = PendingChange::new(only, EventKind::Claimed, None);
    plans::run(sql, types, true, &args, |mut rows| match rows.next() {
        Some(row) => Ok(Some(column(&row, 1, "the claimed conversation")?)),
        None => Ok(None),
    })
}

/// A transition that agents and bots make from one state: escalate, reopen.
fn hand_off(
    id: pgrx::Uuid,
    from: Status,
    action: &str,
    kind: EventKind,
    reason: Option<String>,
    set: &str,
) -> Result<ConversationRow> {
    let user = identity::require_current_user();
    let locked = lock_or_not_found(id, user)?;
    require(locked.role, Role::hands_off, action);
    locked.require_status(from, action);
    apply(&locked, kind, reason, set, None)
}

/// `support.escalate_conversation(id, reason)`: the bot hands off,
/// `active` → `escalated`; `escalated_at` starts the queue's wait clock.
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn escalate_conversation(
    id: Option<pgrx::Uuid>,
    reason: default!(Option<String>, "NULL"),
) -> Option<pgrx::composite_type!('static, "support.conversations")> {
    // Not STRICT (reason is optional), so a NULL id is handled here: NULL in,
    // NULL out, like the STRICT lifecycle functions.
    let id = id?;
    Some(
        hand_off(
            id,
            Status::Active,
            "escalate",
            EventKind::Escalated,
            reason,
            "status = 'escalated', escalated_at = pg_catalog.now()",
        )
        .or_raise(),
    )
}

/// `support.claim_conversation(id)`: the current user takes over an
/// escalated conversation. One conditional UPDATE: of agents racing for the
/// same conversation exactly one wins (under READ COMMITTED a blocked UPDATE
/// re-checks `status = 'escalated'` against the winner's row version).
/// Claiming your own claimed conversation again returns it unchanged.
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn claim_conversation(
    conversation_id: pgrx::Uuid,
) -> pgrx::composite_type!('static, "support.conversations") {
    // The parameter keeps its 0.1.0 name: callers may pass it by name.
    let id = conversation_id;
    let run = || -> Result<ConversationRow> {
        let user = identity::require_current_user();
        if let Some(row) = run_claim(Claim::ById(id), user)? {
            return Ok(row);
        }
        // Nothing updated: say why, from the state as it is now (row locked,
        // so it stays that way). The loser of a race gets the truth: 55006
        // while another agent holds it, and if it is waiting again, it gets it.
        let locked = lock_or_not_found(id, user)?;
        require(locked.role, Role::owns_conversations, "claim");
        match (locked.status, locked.claimed_by) {
            (Status::Claimed, Some(owner)) if owner == user => current_row(&locked),
            (Status::Claimed, _) => errors::already_claimed(id),
            (Status::Escalated, _) => Ok(run_claim(Claim::ById(id), user)?
                .unwrap_or_else(|| errors::conversation_not_found(id))),
            (status, _) => errors::invalid_transition(id, status.as_str(), "claim", "escalated"),
        }
    };
    run().or_raise()
}

/// `support.claim_next_conversation(workspace_id)`: the current user takes
/// the oldest waiting conversation of the workspace (`FOR UPDATE SKIP LOCKED`:
/// agents never block on, nor collide over, the same row). NULL when the
/// queue is empty.
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn claim_next_conversation(
    workspace_id: pgrx::Uuid,
) -> Option<pgrx::composite_type!('static, "support.conversations")> {
    let run = || -> Result<Option<ConversationRow>> {
        let user = identity::require_current_user();
        // One statement on the fast path; only when nothing was claimed do we ask why.
        let claimed = run_claim(Claim::Next(workspace_id), user)?;
        if claimed.is_none() {
            // Not a member: "not found"; a viewer or bot: 42501; else the queue is empty.
            let role = membership::effective_role(workspace_id, user, false)?
                .unwrap_or_else(|| errors::workspace_not_found(workspace_id));
            require(role, Role::owns_conversations, "claim");
        }
        Ok(claimed)
    };
    run().or_raise()
}

/// `support.release_conversation(id)`: back in the queue, `claimed` →
/// `escalated`, keeping its original wait time. Its owner may, and so may an
/// admin or owner of the workspace (supervisor action).
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn release_conversation(
    id: pgrx::Uuid,
) -> pgrx::composite_type!('static, "support.conversations") {
    let run = || -> Result<ConversationRow> {
        let (_, locked) = lock_claimed(id, "release")?;
        apply(
            &locked,
            EventKind::Released,
            None,
            "status = 'escalated', claimed_by = NULL, claimed_at = NULL",
            None,
        )
    };
    run().or_raise()
}

/// `support.transfer_conversation(id, to_user)`: hands a claimed conversation
/// to another human agent, admin or owner of the workspace. Its owner may, and
/// so may an admin or owner of the workspace (supervisor action).
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn transfer_conversation(
    id: pgrx::Uuid,
    to_user: pgrx::Uuid,
) -> pgrx::composite_type!('static, "support.conversations") {
    let run = || -> Result<ConversationRow> {
        let (_, locked) = lock_claimed(id, "transfer")?;
        // The target's membership row is locked FOR SHARE: a concurrent
        // demotion of the target waits until the transfer commits, then
        // unassigns it.
        let target_role = membership::member_role(locked.workspace_id, to_user, true)?
            .unwrap_or_else(|| errors::target_not_member(to_user));
        if !target_role.owns_conversations() {
            errors::target_cannot_own(to_user, target_role.as_str());
        }
        if locked.claimed_by == Some(to_user) {
            return current_row(&locked);
        }
        apply(
            &locked,
            EventKind::Transferred,
            None,
            "claimed_by = $3, claimed_at = pg_catalog.now()",
            Some(to_user),
        )
    };
    run().or_raise()
}

/// `support.resolve_conversation(id)`: `claimed` or `active` → `resolved`. A
/// claimed one: its owner, or an admin or owner of the workspace (supervisor
/// action). An active one: any agent, and bots (the bot solved it).
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn resolve_conversation(
    id: pgrx::Uuid,
) -> pgrx::composite_type!('static, "support.conversations") {
    let run = || -> Result<ConversationRow> {
        let user = identity::require_current_user();
        let locked = lock_or_not_found(id, user)?;
        require(locked.role, Role::hands_off, "resolve");
        match locked.status {
            Status::Claimed => locked.require_owner_or_supervisor(user, "resolve"),
            Status::Active => {}
            status => {
                errors::invalid_transition(id, status.as_str(), "resolve", "claimed or active")
            }
        }
        apply(
            &locked,
            EventKind::Resolved,
            None,
            "status = 'resolved', resolved_at = pg_catalog.now(), claimed_by = NULL, claimed_at = NULL",
            None,
        )
    };
    run().or_raise()
}

/// `support.reopen_conversation(id)`: `resolved` → `escalated` (a human is
/// needed again): a new wait clock, `resolved_at` cleared, `reopen_count` + 1.
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn reopen_conversation(
    id: pgrx::Uuid,
) -> pgrx::composite_type!('static, "support.conversations") {
    hand_off(
        id,
        Status::Resolved,
        "reopen",
        EventKind::Reopened,
        None,
        "status = 'escalated', escalated_at = pg_catalog.now(), resolved_at = NULL, \
         reopen_count = c.reopen_count OPERATOR(pg_catalog.+) 1",
    )
    .or_raise()
}
