//! The closed sets of the lifecycle, once: conversation status, a member's
//! effective role, and the kind of a lifecycle event. Their SQL spellings
//! are the CHECK constraints' (sql/00_schema.sql); what each role may do is
//! docs/permissions.tsv, which the tests hold this code to.

use std::fmt;

/// `support.conversations.status`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Status {
    Active,
    Escalated,
    Claimed,
    Resolved,
}

impl Status {
    pub(crate) fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "active" => Status::Active,
            "escalated" => Status::Escalated,
            "claimed" => Status::Claimed,
            "resolved" => Status::Resolved,
            _ => return None,
        })
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Escalated => "escalated",
            Status::Claimed => "claimed",
            Status::Resolved => "resolved",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A member's effective role in a workspace: the membership role, except
/// that a user of kind `bot` acts as [`Role::Bot`] (a bot with role `viewer`
/// is a viewer).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    Owner,
    Admin,
    Agent,
    Viewer,
    Bot,
}

impl Role {
    /// The membership roles (`support.workspace_members.role`) that own
    /// conversations, as SQL sees them: the one spelling the claim statements use.
    pub(crate) const OWNING: [Role; 3] = [Role::Agent, Role::Admin, Role::Owner];

    pub(crate) fn parse(s: &str) -> Option<Role> {
        Some(match s {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            "agent" => Role::Agent,
            "viewer" => Role::Viewer,
            "bot" => Role::Bot,
            _ => return None,
        })
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
            Role::Bot => "bot",
        }
    }
    /// Human agents, admins and owners: claim, are transferred to, and
    /// release, transfer or resolve their own claims; post agent messages.
    pub(crate) fn owns_conversations(self) -> bool {
        Role::OWNING.contains(&self)
    }
    /// Admins and owners: act on another member's claim too.
    pub(crate) fn supervises(self) -> bool {
        matches!(self, Role::Admin | Role::Owner)
    }
    /// Escalate, resolve an active conversation, reopen: agents and bots.
    pub(crate) fn hands_off(self) -> bool {
        self.owns_conversations() || self == Role::Bot
    }
    /// The SQL array literal of [`Role::OWNING`], e.g. `'{agent,admin,owner}'`.
    pub(crate) fn owning_sql_array() -> String {
        let names: Vec<&str> = Role::OWNING.iter().map(|r| r.as_str()).collect();
        format!("'{{{}}}'", names.join(","))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of event a lifecycle function's change writes
/// (`support.conversation_events.kind`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum EventKind {
    Escalated,
    Claimed,
    Released,
    Transferred,
    Resolved,
    Reopened,
}

impl EventKind {
    pub(crate) const ALL: [EventKind; 6] = [
        EventKind::Escalated,
        EventKind::Claimed,
        EventKind::Released,
        EventKind::Transferred,
        EventKind::Resolved,
        EventKind::Reopened,
    ];

    pub(crate) fn parse(s: &str) -> Option<EventKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventKind::Escalated => "escalated",
            EventKind::Claimed => "claimed",
            EventKind::Released => "released",
            EventKind::Transferred => "transferred",
            EventKind::Resolved => "resolved",
            EventKind::Reopened => "reopened",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for s in [
            Status::Active,
            Status::Escalated,
            Status::Claimed,
            Status::Resolved,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        for r in [
            Role::Owner,
            Role::Admin,
            Role::Agent,
            Role::Viewer,
            Role::Bot,
        ] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::owning_sql_array(), "'{agent,admin,owner}'");
        assert!(!Role::Bot.owns_conversations() && Role::Bot.hands_off());
        assert!(!Role::Viewer.hands_off() && !Role::Agent.supervises());
    }
}
