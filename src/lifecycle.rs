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
//! Each function is SECURITY DEFINER (it writes columns the caller cannot) and
//! therefore checks membership itself: a conversation of another workspace is
//! "not found", exactly like an id that does not exist. Changes take the row
//! lock first (`FOR UPDATE`), so under READ COMMITTED concurrent calls are
//! serialised per conversation and each sees the winner's state; under
//! REPEATABLE READ / SERIALIZABLE a lost race raises 40001 (retry).

use pgrx::prelude::*;

use crate::audit::PendingChange;
use crate::plans::{UUID2, UUID3};
use crate::{errors, identity, membership, plans};

/// Effective roles (see `membership::effective_role`) that own conversations:
/// human members who claim, are transferred to, and release, transfer or
/// resolve their own claims.
const AGENT_ROLES: &[&str] = &["agent", "admin", "owner"];
/// Effective roles that also act on another member's claim (supervisor
/// actions: release, transfer, resolve).
const SUPERVISOR_ROLES: &[&str] = &["admin", "owner"];
/// Effective roles that hand conversations over and close or reopen them
/// without owning them: agents and bots (a bot escalates, resolves the
/// conversations it solved, and reopens).
const HANDOFF_ROLES: &[&str] = &["agent", "admin", "owner", "bot"];

/// 42501 unless `role` is one of `allowed`.
fn require_role(role: &str, allowed: &[&str], action: &str) {
    if !allowed.contains(&role) {
        errors::role_cannot(role, action);
    }
}

/// For an action on a claimed conversation: its owner (an agent) may, and so
/// may a supervisor of the workspace; anyone else gets 42501.
fn require_owner_or_supervisor(id: pgrx::Uuid, locked: &Locked, user: pgrx::Uuid, action: &str) {
    require_role(&locked.role, AGENT_ROLES, action);
    if locked.claimed_by != Some(user) && !SUPERVISOR_ROLES.contains(&locked.role.as_str()) {
        errors::not_owner(id, action);
    }
}

/// A conversation the caller is a member of, locked for update.
struct Locked {
    workspace_id: pgrx::Uuid,
    status: String,
    claimed_by: Option<pgrx::Uuid>,
    /// The caller's effective role in the conversation's workspace.
    role: String,
}

/// Locks conversation `id` if `user` is a member of its workspace (and the
/// caller's membership row `FOR SHARE`, so a concurrent demotion waits).
fn lock_visible(id: pgrx::Uuid, user: pgrx::Uuid) -> Option<Locked> {
    plans::run(
        "SELECT c.workspace_id, c.status, c.claimed_by, \
                CASE WHEN u.kind OPERATOR(pg_catalog.=) 'bot' AND m.role OPERATOR(pg_catalog.<>) 'viewer' \
                     THEN 'bot' ELSE m.role END \
           FROM support.conversations AS c \
           JOIN support.workspace_members AS m \
             ON m.workspace_id OPERATOR(pg_catalog.=) c.workspace_id \
            AND m.user_id OPERATOR(pg_catalog.=) $2 \
           JOIN support.users AS u ON u.id OPERATOR(pg_catalog.=) m.user_id \
          WHERE c.id OPERATOR(pg_catalog.=) $1 \
          LIMIT 1 \
            FOR UPDATE OF c FOR SHARE OF m",
        UUID2,
        true,
        &[id.into(), user.into()],
        |mut rows| {
            let row = rows.next()?;
            Some(Locked {
                workspace_id: row.get::<pgrx::Uuid>(1).ok().flatten()?,
                status: row.get::<String>(2).ok().flatten().unwrap_or_default(),
                claimed_by: row.get::<pgrx::Uuid>(3).ok().flatten(),
                role: row.get::<String>(4).ok().flatten().unwrap_or_default(),
            })
        },
    )
}

/// Locks a claimed conversation for an action its owner or a supervisor may
/// take (release, transfer); returns the caller too.
fn lock_claimed(id: pgrx::Uuid, action: &str) -> (pgrx::Uuid, Locked) {
    let user = identity::require_current_user();
    let locked = lock_visible(id, user).unwrap_or_else(|| errors::conversation_not_found(id));
    require_role(&locked.role, AGENT_ROLES, action);
    if locked.status != "claimed" {
        errors::invalid_transition(id, &locked.status, action, "claimed");
    }
    require_owner_or_supervisor(id, &locked, user, action);
    (user, locked)
}

/// Runs the UPDATE of one transition and returns the new row. `set` may use
/// $3, bound to `user_arg`.
fn apply(
    id: pgrx::Uuid,
    locked: &Locked,
    kind: &'static str,
    reason: Option<String>,
    set: &str,
    user_arg: Option<pgrx::Uuid>,
) -> pgrx::composite_type!('static, "support.conversations") {
    let _pending = PendingChange::new(Some(id), kind, reason);
    let sql = format!(
        "UPDATE support.conversations AS c SET {set} \
          WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2 \
        RETURNING c"
    );
    let mut args: Vec<pgrx::datum::DatumWithOid> = vec![locked.workspace_id.into(), id.into()];
    if let Some(u) = user_arg {
        args.push(u.into());
    }
    let types = if user_arg.is_some() { UUID3 } else { UUID2 };
    plans::run(&sql, types, true, &args, |mut rows| {
        rows.next().and_then(|row| row.get(1).ok().flatten())
    })
    .unwrap_or_else(|| errors::conversation_not_found(id))
}

/// The conversation as it is now (for idempotent answers).
fn current_row(
    id: pgrx::Uuid,
    locked: &Locked,
) -> pgrx::composite_type!('static, "support.conversations") {
    plans::run(
        "SELECT c FROM support.conversations AS c \
          WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 AND c.id OPERATOR(pg_catalog.=) $2",
        UUID2,
        false,
        &[locked.workspace_id.into(), id.into()],
        |mut rows| rows.next().and_then(|row| row.get(1).ok().flatten()),
    )
    .unwrap_or_else(|| errors::conversation_not_found(id))
}

/// The claim UPDATE: takes `$1` if it is escalated and the caller `$2` is a
/// human agent, admin or owner of its workspace (membership row locked
/// `FOR SHARE`: a concurrent demotion waits, then this re-checks the role).
const CLAIM_BY_ID: &str = "UPDATE support.conversations AS c \
        SET status = 'claimed', claimed_by = $2, claimed_at = pg_catalog.now() \
      WHERE c.id OPERATOR(pg_catalog.=) $1 \
        AND c.status OPERATOR(pg_catalog.=) 'escalated' \
        AND EXISTS (SELECT 1 FROM support.workspace_members AS m \
                      JOIN support.users AS u ON u.id OPERATOR(pg_catalog.=) m.user_id \
                     WHERE m.workspace_id OPERATOR(pg_catalog.=) c.workspace_id \
                       AND m.user_id OPERATOR(pg_catalog.=) $2 \
                       AND m.role OPERATOR(pg_catalog.=) ANY ('{agent,admin,owner}'::text[]) \
                       AND u.kind OPERATOR(pg_catalog.=) 'human' \
                       FOR SHARE OF m) \
    RETURNING c";

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
    let user = identity::require_current_user();
    let locked = lock_visible(id, user).unwrap_or_else(|| errors::conversation_not_found(id));
    require_role(&locked.role, HANDOFF_ROLES, "escalate");
    if locked.status != "active" {
        errors::invalid_transition(id, &locked.status, "escalate", "active");
    }
    Some(apply(
        id,
        &locked,
        "escalated",
        reason,
        "status = 'escalated', escalated_at = pg_catalog.now()",
        None,
    ))
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
    let user = identity::require_current_user();
    let claim = || {
        let _pending = PendingChange::new(Some(id), "claimed", None);
        plans::run(
            CLAIM_BY_ID,
            UUID2,
            true,
            &[id.into(), user.into()],
            |mut rows| rows.next().and_then(|row| row.get(1).ok().flatten()),
        )
    };
    if let Some(row) = claim() {
        return row;
    }
    // Nothing updated: say why, from the state as it is now (row locked, so
    // it stays that way). The loser of a race gets the truth: 55006 while
    // another agent holds it, and if it is waiting again, it simply gets it.
    let locked = lock_visible(id, user).unwrap_or_else(|| errors::conversation_not_found(id));
    require_role(&locked.role, AGENT_ROLES, "claim");
    match (locked.status.as_str(), locked.claimed_by) {
        ("claimed", Some(owner)) if owner == user => current_row(id, &locked),
        ("claimed", _) => errors::already_claimed(id),
        ("escalated", _) => claim().unwrap_or_else(|| errors::conversation_not_found(id)),
        (status, _) => errors::invalid_transition(id, status, "claim", "escalated"),
    }
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
    let user = identity::require_current_user();
    // One statement on the fast path: the role check is a one-time filter of
    // the SKIP LOCKED pick. Only when nothing was claimed do we ask why.
    let claimed = {
        let _pending = PendingChange::new(None, "claimed", None);
        plans::run(
            "UPDATE support.conversations AS c \
                SET status = 'claimed', claimed_by = $2, claimed_at = pg_catalog.now() \
              WHERE (c.workspace_id, c.id) OPERATOR(pg_catalog.=) \
                    (SELECT q.workspace_id, q.id FROM support.conversations AS q \
                      WHERE q.workspace_id OPERATOR(pg_catalog.=) $1 \
                        AND q.status OPERATOR(pg_catalog.=) 'escalated' \
                        AND EXISTS (SELECT 1 FROM support.workspace_members AS m \
                                      JOIN support.users AS u ON u.id OPERATOR(pg_catalog.=) m.user_id \
                                     WHERE m.workspace_id OPERATOR(pg_catalog.=) $1 \
                                       AND m.user_id OPERATOR(pg_catalog.=) $2 \
                                       AND m.role OPERATOR(pg_catalog.=) ANY ('{agent,admin,owner}'::text[]) \
                                       AND u.kind OPERATOR(pg_catalog.=) 'human' \
                                       FOR SHARE OF m) \
                      ORDER BY q.escalated_at, q.id \
                      LIMIT 1 \
                        FOR UPDATE SKIP LOCKED) \
            RETURNING c",
            UUID2,
            true,
            &[workspace_id.into(), user.into()],
            |mut rows| rows.next().and_then(|row| row.get(1).ok().flatten()),
        )
    };
    if claimed.is_none() {
        // Not a member: "not found"; a viewer or bot: 42501; else the queue is empty.
        let role = membership::effective_role(workspace_id, user, false)
            .unwrap_or_else(|| errors::workspace_not_found(workspace_id));
        require_role(&role, AGENT_ROLES, "claim");
    }
    claimed
}

/// `support.release_conversation(id)`: back in the queue, `claimed` →
/// `escalated`, keeping its original wait time. Its owner may, and so may an
/// admin or owner of the workspace (supervisor action).
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn release_conversation(
    id: pgrx::Uuid,
) -> pgrx::composite_type!('static, "support.conversations") {
    let (_, locked) = lock_claimed(id, "release");
    apply(
        id,
        &locked,
        "released",
        None,
        "status = 'escalated', claimed_by = NULL, claimed_at = NULL",
        None,
    )
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
    let (_, locked) = lock_claimed(id, "transfer");
    // The target's membership row is locked FOR SHARE: a concurrent demotion
    // of the target waits until the transfer commits, then unassigns it.
    let target_role = membership::effective_role(locked.workspace_id, to_user, true)
        .unwrap_or_else(|| errors::target_not_member(to_user));
    if !AGENT_ROLES.contains(&target_role.as_str()) {
        errors::target_cannot_own(to_user, &target_role);
    }
    if locked.claimed_by == Some(to_user) {
        return current_row(id, &locked);
    }
    apply(
        id,
        &locked,
        "transferred",
        None,
        "claimed_by = $3, claimed_at = pg_catalog.now()",
        Some(to_user),
    )
}

/// `support.resolve_conversation(id)`: `claimed` or `active` → `resolved`. A
/// claimed one: its owner, or an admin or owner of the workspace (supervisor
/// action). An active one: any agent, and bots (the bot solved it).
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn resolve_conversation(
    id: pgrx::Uuid,
) -> pgrx::composite_type!('static, "support.conversations") {
    let user = identity::require_current_user();
    let locked = lock_visible(id, user).unwrap_or_else(|| errors::conversation_not_found(id));
    require_role(&locked.role, HANDOFF_ROLES, "resolve");
    match locked.status.as_str() {
        "claimed" => require_owner_or_supervisor(id, &locked, user, "resolve"),
        "active" => {}
        status => errors::invalid_transition(id, status, "resolve", "claimed or active"),
    }
    apply(
        id,
        &locked,
        "resolved",
        None,
        "status = 'resolved', resolved_at = pg_catalog.now(), claimed_by = NULL, claimed_at = NULL",
        None,
    )
}

/// `support.reopen_conversation(id)`: `resolved` → `escalated` (a human is
/// needed again): a new wait clock, `resolved_at` cleared, `reopen_count` + 1.
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn reopen_conversation(
    id: pgrx::Uuid,
) -> pgrx::composite_type!('static, "support.conversations") {
    let user = identity::require_current_user();
    let locked = lock_visible(id, user).unwrap_or_else(|| errors::conversation_not_found(id));
    require_role(&locked.role, HANDOFF_ROLES, "reopen");
    if locked.status != "resolved" {
        errors::invalid_transition(id, &locked.status, "reopen", "resolved");
    }
    apply(
        id,
        &locked,
        "reopened",
        None,
        "status = 'escalated', escalated_at = pg_catalog.now(), resolved_at = NULL, \
         reopen_count = c.reopen_count OPERATOR(pg_catalog.+) 1",
        None,
    )
}
