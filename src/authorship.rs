//! Who may post which message, and as whom: the rows `message.post_*` of the
//! permission matrix (docs/permissions.tsv) that a plain INSERT reaches. The
//! `conversation_messages_before_insert` trigger asks it for every message an
//! application role writes; one call and one membership lookup per message
//! (it is on the hot path of every chat message).

use pgrx::prelude::*;

use crate::errors::OrRaise;
use crate::lifecycle::model::Role;
use crate::{errors, identity, membership};

/// `support.check_new_message(workspace_id, author_id, role)`: the
/// `author_id` to store for a message the current user posts, or an error:
/// - a viewer posts nothing (42501);
/// - authorship is the caller: an omitted (NULL) author is the caller, any
///   other id is refused (42501);
/// - `agent` messages come from human agents, admins and owners; `bot` and
///   `customer` messages from bots (a bot relays the customer's words);
///   `system` messages never from an application role (42501).
///
/// A caller who is not a member of the workspace gets `author_id` back
/// unchanged: row-level security refuses the row next, exactly as for a
/// workspace that does not exist.
///
/// No `SET search_path` clause (docs/security.md): it runs once per message,
/// resolves no name, and reads the caller's role from the membership cache,
/// whose only SQL (a load) pins `search_path` itself.
#[pg_extern(stable, security_definer, parallel_restricted, requires = ["schema"])]
pub fn check_new_message(
    workspace_id: Option<pgrx::Uuid>,
    author_id: Option<pgrx::Uuid>,
    role: Option<&str>,
) -> Option<pgrx::Uuid> {
    let (Some(workspace_id), Some(role)) = (workspace_id, role) else {
        return author_id; // NOT NULL constraints report the missing value
    };
    let Some(caller) = identity::current_user() else {
        return author_id;
    };
    let Some(member_role) = membership::effective_role(workspace_id, caller, false).or_raise()
    else {
        return author_id;
    };
    if member_role == Role::Viewer {
        errors::refused(
            "workspace role viewer cannot post messages".into(),
            Some("A viewer reads only. See docs/permissions.md."),
        );
    }
    if author_id.is_some_and(|author| author != caller) {
        errors::refused(
            "author_id must be the calling user".into(),
            Some("Leave author_id out: it is filled in with support.current_user_id()."),
        );
    }
    match role {
        "agent" if !member_role.owns_conversations() => errors::refused(
            format!("workspace role {member_role} cannot post agent messages"),
            Some("Agent messages come from human members with role agent, admin or owner."),
        ),
        "bot" | "customer" if member_role != Role::Bot => errors::refused(
            format!("workspace role {member_role} cannot post {role} messages"),
            Some("Bot and customer messages come from members of kind bot (a bot relays the customer's words)."),
        ),
        "system" => errors::refused(
            "system messages come only from the extension or the table owner".into(),
            None,
        ),
        _ => {}
    }
    Some(caller)
}
