//! The reference model of conversations_ext, written from the README and independent of the extension's code.
//!
//! It holds who belongs to which workspace with
//! which role, the platform's support staff (whom they serve, which
//! workspaces refuse them, which memberships they joined as staff), every
//! conversation, message and audit event, the lifecycle state machine (the
//! SQLSTATE each call must give and the event it must write), and what each
//! end user may see. Who may do what is not restated here: it is read from
//! docs/permissions.tsv (crate::matrix), the same file the permission test
//! checks cell by cell; support staff in a workspace they serve without being
//! a member are its `staff` column.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use crate::matrix::{subject_of, Matrix, STAFF, STAFF_ACTS_AS};

mod lifecycle;

/// docs/permissions.tsv, read once.
pub fn matrix() -> &'static Matrix {
    static M: OnceLock<Matrix> = OnceLock::new();
    M.get_or_init(Matrix::load)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    Owner,
    Admin,
    Agent,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Agent, Role::Viewer];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
        }
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub kind: &'static str,
    pub display_name: String,
}

#[derive(Clone, Debug)]
pub struct Conversation {
    pub id: String,
    pub workspace: String,
    pub status: &'static str,
    pub claimed_by: Option<String>,
    pub bot: Option<String>,
    pub channel: &'static str,
    pub subject: String,
    pub reopen_count: i32,
    /// Logical time of the current wait's start (escalated_at).
    pub escalated_tick: Option<u64>,
    pub deleted: bool,
    /// Creation order (ids come from the database, so they differ between
    /// runs; random choices follow this order to make a seed reproducible).
    pub seq: u64,
}

#[derive(Clone, Debug)]
pub struct Message {
    pub id: String,
    pub workspace: String,
    pub conversation: String,
    pub role: &'static str,
    pub author: Option<String>,
    pub content: String,
    pub deleted: bool,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub workspace: String,
    pub conversation: String,
    pub kind: String,
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub from_owner: Option<String>,
    pub to_owner: Option<String>,
    pub actor: Option<String>,
    pub reason: Option<String>,
}

/// A lifecycle call.
#[derive(Clone, Debug)]
pub enum Op {
    Escalate(String, Option<String>),
    Claim(String),
    ClaimNext(String),
    Release(String),
    Transfer(String, String),
    Resolve(String),
    Reopen(String),
}

impl Op {
    /// SQL returning (id, status, claimed_by) of the returned row; `$1` is
    /// the conversation (or workspace) id, `$2` the reason or target user,
    /// all bound as text. Uses no operator or function name the caller's
    /// search_path could redirect.
    pub fn sql(&self) -> (String, Vec<Option<String>>) {
        let (call, args): (&str, Vec<Option<String>>) = match self {
            Op::Escalate(id, reason) => (
                "support.escalate_conversation($1::text::uuid, $2::text)",
                vec![Some(id.clone()), reason.clone()],
            ),
            Op::Claim(id) => (
                "support.claim_conversation($1::text::uuid)",
                vec![Some(id.clone())],
            ),
            Op::ClaimNext(ws) => (
                "support.claim_next_conversation($1::text::uuid)",
                vec![Some(ws.clone())],
            ),
            Op::Release(id) => (
                "support.release_conversation($1::text::uuid)",
                vec![Some(id.clone())],
            ),
            Op::Transfer(id, to) => (
                "support.transfer_conversation($1::text::uuid, $2::text::uuid)",
                vec![Some(id.clone()), Some(to.clone())],
            ),
            Op::Resolve(id) => (
                "support.resolve_conversation($1::text::uuid)",
                vec![Some(id.clone())],
            ),
            Op::Reopen(id) => (
                "support.reopen_conversation($1::text::uuid)",
                vec![Some(id.clone())],
            ),
        };
        (
            format!("SELECT x.id::text, x.status, x.claimed_by::text FROM {call} AS x"),
            args,
        )
    }
    pub fn name(&self) -> &'static str {
        match self {
            Op::Escalate(..) => "escalate",
            Op::Claim(..) => "claim",
            Op::ClaimNext(..) => "claim_next",
            Op::Release(..) => "release",
            Op::Transfer(..) => "transfer",
            Op::Resolve(..) => "resolve",
            Op::Reopen(..) => "reopen",
        }
    }
}

/// What a lifecycle call must give: its SQLSTATE and, on success, the
/// returned row's (id, status, claimed_by); `None` row: claim_next found an
/// empty queue (a row of NULLs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub state: &'static str,
    pub row: Option<(String, String, Option<String>)>,
}

impl Expect {
    fn err(state: &'static str) -> Self {
        Expect { state, row: None }
    }
}

/// A row of support.staff (and the user's rows of support.staff_workspaces).
#[derive(Clone, Debug)]
pub struct Staff {
    /// The role they join a workspace with.
    pub role: Role,
    pub all_workspaces: bool,
    /// With `all_workspaces` false: the only workspaces they serve.
    pub workspaces: BTreeSet<String>,
}

#[derive(Clone, Default)]
pub struct Model {
    pub workspaces: BTreeMap<String, String>,
    pub users: BTreeMap<String, User>,
    pub members: BTreeMap<(String, String), Role>,
    /// support.staff, by user.
    pub staff: BTreeMap<String, Staff>,
    /// The workspaces whose staff_access is false.
    pub refuses_staff: BTreeSet<String>,
    /// The memberships made by support.join_as_staff (joined_as_staff).
    pub joined_as_staff: BTreeSet<(String, String)>,
    pub conversations: BTreeMap<String, Conversation>,
    pub messages: BTreeMap<String, Message>,
    /// Every event in the order it happened.
    pub events: Vec<Event>,
    tick: u64,
}

impl Model {
    /// One database transaction happened (its now() is later than any before).
    pub fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    pub fn role(&self, workspace: &str, user: &str) -> Option<Role> {
        self.members
            .get(&(workspace.to_string(), user.to_string()))
            .copied()
    }

    /// Is `user` support staff serving `workspace`: the workspace allows
    /// staff, and is in the staff user's scope (all workspaces, or listed)?
    pub fn serves(&self, workspace: &str, user: &str) -> bool {
        self.workspaces.contains_key(workspace)
            && !self.refuses_staff.contains(workspace)
            && self
                .staff
                .get(user)
                .is_some_and(|s| s.all_workspaces || s.workspaces.contains(workspace))
    }

    /// The matrix column of a member of `workspace` (None: not a member).
    pub fn member_subject(&self, workspace: &str, user: &str) -> Option<&'static str> {
        let role = self.role(workspace, user)?;
        let kind = self.users.get(user).map(|u| u.kind).unwrap_or("human");
        Some(subject_of(kind, role.as_str()))
    }

    /// The matrix column `user` plays in `workspace`: a member's, or `staff`
    /// for support staff serving it without being a member (None: neither;
    /// the workspace is invisible to them).
    pub fn subject(&self, workspace: &str, user: &str) -> Option<&'static str> {
        self.member_subject(workspace, user)
            .or_else(|| self.serves(workspace, user).then_some(STAFF))
    }

    /// What `support.workspace_role(workspace)` answers `user`: the column,
    /// except that staff who have not joined act as viewers.
    pub fn workspace_role(&self, workspace: &str, user: &str) -> Option<&'static str> {
        self.subject(workspace, user)
            .map(|s| if s == STAFF { STAFF_ACTS_AS } else { s })
    }

    /// Whether the matrix lets `user` do `action` in `workspace` (members, and staff where they serve).
    pub fn may(&self, workspace: &str, user: &str, action: &str) -> bool {
        self.subject(workspace, user)
            .is_some_and(|s| matrix().allows(action, s))
    }

    /// The SQLSTATE the matrix gives `user` for `action` in `workspace`
    /// ("00000": allowed); None when `user` can not see the workspace.
    pub fn verdict(&self, workspace: &str, user: &str, action: &str) -> Option<&'static str> {
        self.subject(workspace, user)
            .map(|s| matrix().sqlstate(action, s))
    }

    /// May claim conversations of `workspace` (matrix: lifecycle.claim).
    pub fn can_claim(&self, workspace: &str, user: &str) -> bool {
        self.may(workspace, user, "lifecycle.claim")
    }

    /// The workspaces `user` reads (none for nobody): those they belong to
    /// and, as support staff, those they serve. What every policy checks
    /// (`support.workspace_member`, `support.member_workspaces()`).
    pub fn workspaces_of(&self, user: Option<&str>) -> BTreeSet<String> {
        let mut out = self.memberships_of(user);
        if let Some(u) = user {
            out.extend(
                self.workspaces
                    .keys()
                    .filter(|w| self.serves(w, u))
                    .cloned(),
            );
        }
        out
    }

    /// The workspaces `user` is a member of (none for nobody).
    pub fn memberships_of(&self, user: Option<&str>) -> BTreeSet<String> {
        match user {
            None => BTreeSet::new(),
            Some(u) => self
                .members
                .keys()
                .filter(|(_, m)| m == u)
                .map(|(w, _)| w.clone())
                .collect(),
        }
    }

    pub fn members_of(&self, workspace: &str) -> Vec<(String, Role)> {
        self.members
            .iter()
            .filter(|((w, _), _)| w == workspace)
            .map(|((_, u), r)| (u.clone(), *r))
            .collect()
    }

    /// Conversations not deleted, in creation order.
    pub fn live_conversations(&self) -> impl Iterator<Item = &Conversation> {
        let mut v: Vec<&Conversation> =
            self.conversations.values().filter(|c| !c.deleted).collect();
        v.sort_by_key(|c| c.seq);
        v.into_iter()
    }

    /// Messages not deleted, in creation order.
    pub fn live_messages(&self) -> impl Iterator<Item = &Message> {
        let mut v: Vec<&Message> = self.messages.values().filter(|m| !m.deleted).collect();
        v.sort_by_key(|m| m.seq);
        v.into_iter()
    }

    /// Records a conversation an end user created (the INSERT succeeded).
    #[allow(clippy::too_many_arguments)]
    pub fn insert_conversation(
        &mut self,
        actor: &str,
        id: &str,
        workspace: &str,
        status: &'static str,
        bot: Option<String>,
        channel: &'static str,
        subject: &str,
    ) {
        let tick = self.next_tick();
        self.conversations.insert(
            id.to_string(),
            Conversation {
                id: id.to_string(),
                workspace: workspace.to_string(),
                status,
                claimed_by: None,
                bot,
                channel,
                subject: subject.to_string(),
                reopen_count: 0,
                escalated_tick: (status == "escalated").then_some(tick),
                deleted: false,
                seq: tick,
            },
        );
        self.events.push(Event {
            workspace: workspace.to_string(),
            conversation: id.to_string(),
            kind: "created".into(),
            from_status: None,
            to_status: Some(status.into()),
            from_owner: None,
            to_owner: None,
            actor: Some(actor.to_string()),
            reason: None,
        });
    }

    pub fn insert_message(
        &mut self,
        id: &str,
        conversation: &str,
        role: &'static str,
        author: Option<String>,
        content: &str,
    ) {
        let seq = self.next_tick();
        let workspace = self.conversations[conversation].workspace.clone();
        self.messages.insert(
            id.to_string(),
            Message {
                id: id.to_string(),
                workspace,
                conversation: conversation.to_string(),
                role,
                author,
                content: content.to_string(),
                deleted: false,
                seq,
            },
        );
    }

    /// A member deleted a conversation: a `deleted` event, messages cascade.
    pub fn delete_conversation(&mut self, actor: Option<&str>, id: &str) {
        self.next_tick();
        let c = self.conversations.get_mut(id).expect("known conversation");
        c.deleted = true;
        let event = Event {
            workspace: c.workspace.clone(),
            conversation: id.to_string(),
            kind: "deleted".into(),
            from_status: Some(c.status.into()),
            to_status: None,
            from_owner: c.claimed_by.clone(),
            to_owner: None,
            actor: actor.map(str::to_string),
            reason: None,
        };
        self.events.push(event);
        for m in self.messages.values_mut() {
            if m.conversation == id {
                m.deleted = true;
            }
        }
    }

    /// A member deleted a message: a `message_deleted` event.
    pub fn delete_message(&mut self, actor: Option<&str>, id: &str) {
        self.next_tick();
        let m = self.messages.get_mut(id).expect("known message");
        m.deleted = true;
        let event = Event {
            workspace: m.workspace.clone(),
            conversation: m.conversation.clone(),
            kind: "message_deleted".into(),
            from_status: None,
            to_status: None,
            from_owner: None,
            to_owner: None,
            actor: actor.map(str::to_string),
            reason: None,
        };
        self.events.push(event);
    }

    /// The DBA removed a membership: the foreign-key actions unassign the
    /// member's conversations (back to escalated, an `unassigned` event with
    /// no actor) and clear them as bot and author.
    pub fn remove_member(&mut self, workspace: &str, user: &str) {
        self.next_tick();
        self.membership_removed(workspace, user, None);
    }

    /// A membership is gone, removed by `actor` (None: the DBA): the
    /// foreign-key actions unassign the member's conversations (back to
    /// escalated, an `unassigned` event by the actor) and clear them as bot
    /// and author.
    fn membership_removed(&mut self, workspace: &str, user: &str, actor: Option<&str>) {
        let key = (workspace.to_string(), user.to_string());
        self.members.remove(&key).expect("known membership");
        self.joined_as_staff.remove(&key);
        let mut events = Vec::new();
        for c in self.conversations.values_mut() {
            if c.deleted || c.workspace != workspace {
                continue;
            }
            if c.claimed_by.as_deref() == Some(user) {
                events.push(Event {
                    workspace: workspace.to_string(),
                    conversation: c.id.clone(),
                    kind: "unassigned".into(),
                    from_status: Some("claimed".into()),
                    to_status: Some("escalated".into()),
                    from_owner: Some(user.to_string()),
                    to_owner: None,
                    actor: actor.map(str::to_string),
                    reason: None,
                });
                c.status = "escalated";
                c.claimed_by = None;
            }
            if c.bot.as_deref() == Some(user) {
                c.bot = None;
            }
        }
        self.events.extend(events);
        for m in self.messages.values_mut() {
            if m.workspace == workspace && m.author.as_deref() == Some(user) {
                m.author = None;
            }
        }
    }

    // ---- support staff (docs/permissions.md#support-staff) ----

    /// `support.join_as_staff(workspace)` by `user`: the SQLSTATE it must
    /// give, applied to the model. The matrix's staff.join decides for staff
    /// serving the workspace without being a member and for members who are
    /// not staff; where the workspace is invisible to the caller, not found
    /// (P0002). Staff already a member of a workspace they serve: the
    /// membership stays as it is (the function's documented answer; no
    /// matrix cell covers it).
    pub fn join_as_staff(&mut self, workspace: &str, user: Option<&str>) -> &'static str {
        self.next_tick();
        let Some(u) = user else {
            return "28000";
        };
        let is_member = self.role(workspace, u).is_some();
        if is_member && self.serves(workspace, u) {
            return "00000";
        }
        let verdict = self.verdict(workspace, u, "staff.join").unwrap_or("P0002");
        if verdict == "00000" {
            let role = self.staff[u].role;
            let key = (workspace.to_string(), u.to_string());
            self.members.insert(key.clone(), role);
            self.joined_as_staff.insert(key);
        }
        verdict
    }

    /// `support.set_staff_access(workspace, allowed)` by `user`, on a
    /// workspace that `allowed` changes (the matrix's staff.refuse /
    /// staff.allow rows describe exactly those calls): the SQLSTATE it must
    /// give, applied to the model. A refusal removes the members who joined
    /// as staff (except owners), their claims back to the queue with the
    /// caller as the actor of the `unassigned` events.
    pub fn set_staff_access(
        &mut self,
        workspace: &str,
        user: Option<&str>,
        allowed: bool,
    ) -> &'static str {
        self.next_tick();
        assert_eq!(
            self.refuses_staff.contains(workspace),
            allowed,
            "set_staff_access({workspace}, {allowed}) must change the workspace's staff access"
        );
        let Some(u) = user else {
            return "28000";
        };
        let action = if allowed {
            "staff.allow"
        } else {
            "staff.refuse"
        };
        let verdict = self.verdict(workspace, u, action).unwrap_or("P0002");
        if verdict != "00000" {
            return verdict;
        }
        if allowed {
            self.refuses_staff.remove(workspace);
        } else {
            self.refuses_staff.insert(workspace.to_string());
            let leaving: Vec<String> = self
                .joined_as_staff
                .iter()
                .filter(|(w, m)| w == workspace && self.role(w, m) != Some(Role::Owner))
                .map(|(_, m)| m.clone())
                .collect();
            for m in leaving {
                self.membership_removed(workspace, &m, Some(u));
            }
        }
        verdict
    }

    // ---- what an end user may see (README: row-level security) ----

    pub fn visible_conversations(&self, user: Option<&str>) -> BTreeSet<String> {
        let ws = self.workspaces_of(user);
        self.live_conversations()
            .filter(|c| ws.contains(&c.workspace))
            .map(|c| c.id.clone())
            .collect()
    }

    pub fn visible_messages(&self, user: Option<&str>) -> BTreeSet<String> {
        let ws = self.workspaces_of(user);
        self.messages
            .values()
            .filter(|m| !m.deleted && ws.contains(&m.workspace))
            .map(|m| m.id.clone())
            .collect()
    }

    /// Indexes into `events` of the events `user` may read.
    pub fn visible_events(&self, user: Option<&str>) -> BTreeSet<usize> {
        let ws = self.workspaces_of(user);
        self.events
            .iter()
            .enumerate()
            .filter(|(_, e)| ws.contains(&e.workspace))
            .map(|(i, _)| i)
            .collect()
    }

    pub fn visible_memberships(&self, user: Option<&str>) -> BTreeSet<(String, String)> {
        let ws = self.workspaces_of(user);
        self.members
            .keys()
            .filter(|(w, _)| ws.contains(w))
            .cloned()
            .collect()
    }

    /// Yourself (if you are a user) and everyone who shares a workspace with you.
    pub fn visible_users(&self, user: Option<&str>) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self
            .visible_memberships(user)
            .into_iter()
            .map(|(_, u)| u)
            .collect();
        if let Some(u) = user {
            if self.users.contains_key(u) {
                out.insert(u.to_string());
            }
        }
        out
    }
}
