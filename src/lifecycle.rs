//! The conversation lifecycle: the state changes application roles make
//! through functions (a plain UPDATE of the lifecycle columns is refused by
//! the `conversations_before_update` trigger for every role subject to RLS).
//!
//! Each function is SECURITY DEFINER (it writes columns the caller cannot) and
//! therefore checks membership itself: a conversation of another workspace is
//! "not found", exactly like an id that does not exist.

use pgrx::prelude::*;

use crate::errors;
use crate::identity;

type Conversation = pgrx::composite_type!('static, "support.conversations");

/// What the caller may know about a conversation: its status and owner, and
/// the row itself; None when it does not exist or belongs to a workspace the
/// user is not a member of.
struct Visible {
    status: String,
    claimed_by: Option<pgrx::Uuid>,
    row: Conversation,
}

fn visible(conversation_id: pgrx::Uuid, user: pgrx::Uuid) -> Option<Visible> {
    Spi::connect(|client| {
        let mut rows = client
            .select(
                "SELECT c.status, c.claimed_by, c FROM support.conversations AS c \
                  WHERE c.id OPERATOR(pg_catalog.=) $1 \
                    AND EXISTS (SELECT 1 FROM support.workspace_members AS m \
                                 WHERE m.workspace_id OPERATOR(pg_catalog.=) c.workspace_id \
                                   AND m.user_id OPERATOR(pg_catalog.=) $2)",
                Some(1),
                &[conversation_id.into(), user.into()],
            )
            .unwrap_or_else(|e| error!("support: cannot read conversation: {e}"));
        let row = rows.next()?;
        Some(Visible {
            status: row.get::<String>(1).ok().flatten().unwrap_or_default(),
            claimed_by: row.get::<pgrx::Uuid>(2).ok().flatten(),
            row: row.get::<Conversation>(3).ok().flatten()?,
        })
    })
}

/// `support.claim_conversation(conversation_id)`: the current user takes over
/// an escalated conversation. One conditional UPDATE: of agents racing for the
/// same conversation exactly one wins (under READ COMMITTED a blocked UPDATE
/// re-checks `status = 'escalated'` against the winner's row version).
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn claim_conversation(
    conversation_id: pgrx::Uuid,
) -> pgrx::composite_type!('static, "support.conversations") {
    let user = identity::require_current_user();
    let claimed: Option<Conversation> = Spi::connect_mut(|client| {
        client
            .update(
                "UPDATE support.conversations AS c \
                    SET status = 'claimed', claimed_by = $2, claimed_at = pg_catalog.now() \
                  WHERE c.id OPERATOR(pg_catalog.=) $1 \
                    AND c.status OPERATOR(pg_catalog.=) 'escalated' \
                    AND EXISTS (SELECT 1 FROM support.workspace_members AS m \
                                 WHERE m.workspace_id OPERATOR(pg_catalog.=) c.workspace_id \
                                   AND m.user_id OPERATOR(pg_catalog.=) $2) \
                RETURNING c",
                Some(1),
                &[conversation_id.into(), user.into()],
            )
            .unwrap_or_else(|e| error!("support.claim_conversation: {e}"))
            .next()
            .and_then(|row| row.get::<Conversation>(1).ok().flatten())
    });
    if let Some(row) = claimed {
        return row;
    }
    // Nothing updated: say why, from the latest committed state.
    match visible(conversation_id, user) {
        None => errors::conversation_not_found(conversation_id),
        Some(v) if v.status == "claimed" && v.claimed_by == Some(user) => v.row,
        Some(v) if v.status == "claimed" => errors::already_claimed(conversation_id),
        Some(v) => errors::invalid_transition(conversation_id, &v.status, "claim"),
    }
}
