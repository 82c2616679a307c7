//! The fixture of the permission tests: workspaces W (one user per matrix column) and X (another tenant), with conversations and messages.
//!
//! Workspace W has human owners O and O2, admin A, agents G and G2, viewer V, bot B (kind bot, role agent) and a
//! user N who is not a member yet; workspace X with its own owner, member,
//! conversation and message (to see cross-tenant effects). In W: an active
//! conversation (with messages), an escalated one (the only one waiting), one
//! claimed by G2, a resolved one, and for each member subject a conversation
//! it holds and a message it wrote. Members are added through
//! support.add_member by O, so member_events has rows; claims are set directly
//! by the superuser. Support staff: S (the staff column: human, staff role
//! agent, all_workspaces, member of nothing) and S2 (the same, used by the
//! staff.refuse cell, which first has S2 join W and claim a conversation);
//! W allows staff (the default), X refuses them (its owner said so through
//! support.set_staff_access), so S reads exactly W.
use crate::cluster::Target;
use crate::fixture::{empty_database_on, APP_ROLE};
use tokio_postgres::Client;

pub const W: &str = "c1000000-0000-4000-8000-000000000001";
pub const X: &str = "c2000000-0000-4000-8000-000000000002";

pub const O: &str = "d0000000-0000-4000-8000-000000000001";
pub const O2: &str = "d0000000-0000-4000-8000-000000000002";
pub const A: &str = "d0000000-0000-4000-8000-000000000003";
pub const G: &str = "d0000000-0000-4000-8000-000000000004";
pub const G2: &str = "d0000000-0000-4000-8000-000000000005";
pub const V: &str = "d0000000-0000-4000-8000-000000000006";
pub const B: &str = "d0000000-0000-4000-8000-000000000007";
pub const N: &str = "d0000000-0000-4000-8000-000000000008";
pub const XO: &str = "d0000000-0000-4000-8000-000000000009";
pub const XG: &str = "d0000000-0000-4000-8000-000000000010";
/// Support staff, the staff column: in support.staff (role agent,
/// all_workspaces), a member of no workspace.
pub const S: &str = "d0000000-0000-4000-8000-000000000011";
/// Support staff like S, who joins W in the set-up of staff.refuse.
pub const S2: &str = "d0000000-0000-4000-8000-000000000012";

pub const C_ACTIVE: &str = "e0000000-0000-4000-8000-000000000001";
pub const C_ESCALATED: &str = "e0000000-0000-4000-8000-000000000002";
pub const C_G2: &str = "e0000000-0000-4000-8000-000000000003";
pub const C_RESOLVED: &str = "e0000000-0000-4000-8000-000000000004";
pub const C_X: &str = "e0000000-0000-4000-8000-000000000021";

pub const M_G2: &str = "f1000000-0000-4000-8000-000000000001";
pub const M_CUSTOMER: &str = "f1000000-0000-4000-8000-000000000002";
pub const M_X: &str = "f1000000-0000-4000-8000-000000000021";

/// A column of the matrix, played by one user.
#[derive(Clone, Copy, Debug)]
pub struct Subject {
    pub name: &'static str,
    pub id: &'static str,
    /// What `support.workspace_role(W)` answers the subject.
    pub plays: &'static str,
    /// A member of W (false: the staff column).
    pub member: bool,
    /// A conversation of W the subject holds (claimed_by = the subject); ""
    /// for staff, who as a non-member can hold none.
    pub own_conversation: &'static str,
    /// A message in C_ACTIVE the subject wrote; "" for staff, who as a
    /// non-member can have written none.
    pub own_message: &'static str,
}

/// The subjects, in the matrix's column order: the five members of W, then
/// support staff S.
pub const SUBJECTS: [Subject; 6] = [
    Subject {
        name: "owner",
        id: O,
        plays: "owner",
        member: true,
        own_conversation: "e0000000-0000-4000-8000-000000000011",
        own_message: "f1000000-0000-4000-8000-000000000011",
    },
    Subject {
        name: "admin",
        id: A,
        plays: "admin",
        member: true,
        own_conversation: "e0000000-0000-4000-8000-000000000012",
        own_message: "f1000000-0000-4000-8000-000000000012",
    },
    Subject {
        name: "agent",
        id: G,
        plays: "agent",
        member: true,
        own_conversation: "e0000000-0000-4000-8000-000000000013",
        own_message: "f1000000-0000-4000-8000-000000000013",
    },
    Subject {
        name: "viewer",
        id: V,
        plays: "viewer",
        member: true,
        own_conversation: "e0000000-0000-4000-8000-000000000014",
        own_message: "f1000000-0000-4000-8000-000000000014",
    },
    Subject {
        name: "bot",
        id: B,
        plays: "bot",
        member: true,
        own_conversation: "e0000000-0000-4000-8000-000000000015",
        own_message: "f1000000-0000-4000-8000-000000000015",
    },
    Subject {
        name: "staff",
        id: S,
        plays: crate::matrix::STAFF_ACTS_AS,
        member: false,
        own_conversation: "",
        own_message: "",
    },
];

/// The subjects who are members of W (they hold a conversation and wrote a message).
pub fn members() -> impl Iterator<Item = &'static Subject> {
    SUBJECTS.iter().filter(|s| s.member)
}

/// `BEGIN` is the caller's; this acts as `user` for the rest of the transaction.
pub fn act_as(user: &str) -> String {
    format!("SET LOCAL ROLE {APP_ROLE}; SET LOCAL support.user_id = '{user}';")
}

/// Runs `sql` as the superuser; when refused, again with triggers off
/// (session_replication_role = replica). Returns whether the fallback was used.
async fn superuser_write(c: &Client, sql: &str) -> bool {
    c.batch_execute("BEGIN").await.unwrap();
    match c.batch_execute(sql).await {
        Ok(()) => {
            c.batch_execute("COMMIT").await.unwrap();
            false
        }
        Err(_) => {
            c.batch_execute("ROLLBACK; BEGIN; SET LOCAL session_replication_role = replica")
                .await
                .unwrap();
            c.batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("fixture: {sql}: {e}"));
            c.batch_execute("COMMIT").await.unwrap();
            true
        }
    }
}

/// Builds the fixture in a new database `db`; returns a superuser connection
/// and notes on how it was set up.
pub async fn build(db: &str) -> (Client, Vec<String>) {
    build_on(&Target::from_env(), db).await
}

/// [`build`] on the cluster `target`.
pub async fn build_on(target: &Target, db: &str) -> (Client, Vec<String>) {
    let c = empty_database_on(target, db).await;
    let mut notes = Vec::new();
    c.batch_execute(&format!(
        "INSERT INTO support.users (id, kind, display_name) VALUES
           ('{O}', 'human', 'O'), ('{O2}', 'human', 'O2'), ('{A}', 'human', 'A'), ('{G}', 'human', 'G'),
           ('{G2}', 'human', 'G2'), ('{V}', 'human', 'V'), ('{B}', 'bot', 'B'), ('{N}', 'human', 'N'),
           ('{XO}', 'human', 'XO'), ('{XG}', 'human', 'XG'), ('{S}', 'human', 'S'), ('{S2}', 'human', 'S2');
         INSERT INTO support.workspaces (id, name) VALUES ('{W}', 'W'), ('{X}', 'X');
         INSERT INTO support.staff (user_id, role) VALUES ('{S}', 'agent'), ('{S2}', 'agent');
         INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES ('{W}', '{O}', 'owner'), ('{X}', '{XO}', 'owner');
         INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('perm-k1', 'HS256', repeat('k', 40));"
    ))
    .await
    .unwrap_or_else(|e| panic!("fixture: users and workspaces: {e}"));
    // Members through the application, as the owners.
    let adds: Vec<(&str, &str, &str, &str)> = vec![
        (W, O, O2, "owner"),
        (W, O, A, "admin"),
        (W, O, G, "agent"),
        (W, O, G2, "agent"),
        (W, O, V, "viewer"),
        (W, O, B, "agent"),
        (X, XO, XG, "agent"),
    ];
    for (ws, by, user, role) in adds {
        c.batch_execute(&format!(
            "BEGIN; {} SELECT support.add_member('{ws}', '{user}', '{role}'); COMMIT;",
            act_as(by)
        ))
        .await
        .unwrap_or_else(|e| panic!("fixture: add_member({ws}, {user}, {role}) as {by}: {e}"));
    }
    // X refuses support staff, by its owner.
    c.batch_execute(&format!(
        "BEGIN; {} SELECT support.set_staff_access('{X}', false); COMMIT;",
        act_as(XO)
    ))
    .await
    .unwrap_or_else(|e| panic!("fixture: set_staff_access({X}, false) as {XO}: {e}"));
    // Conversations and messages, by the superuser.
    let mut sql = format!(
        "INSERT INTO support.conversations (id, workspace_id, status, subject, bot_user_id) VALUES
           ('{C_ACTIVE}', '{W}', 'active', 'active one', '{B}'),
           ('{C_ESCALATED}', '{W}', 'escalated', 'waiting one', NULL),
           ('{C_G2}', '{W}', 'escalated', 'held by G2', NULL),
           ('{C_RESOLVED}', '{W}', 'active', 'resolved one', NULL),
           ('{C_X}', '{X}', 'escalated', 'other tenant', NULL);
         UPDATE support.conversations SET escalated_at = now() - interval '1 hour' WHERE status = 'escalated';
         UPDATE support.conversations SET status = 'resolved', resolved_at = now() WHERE id = '{C_RESOLVED}';
         UPDATE support.conversations SET status = 'claimed', claimed_by = '{G2}', claimed_at = now() WHERE id = '{C_G2}';
         INSERT INTO support.conversation_messages (id, workspace_id, conversation_id, role, author_id, content) VALUES
           ('{M_G2}', '{W}', '{C_ACTIVE}', 'agent', '{G2}', 'written by G2'),
           ('{M_CUSTOMER}', '{W}', '{C_ACTIVE}', 'customer', '{B}', 'relayed by B'),
           ('{M_X}', '{X}', '{C_X}', 'agent', '{XG}', 'other tenant''s message');"
    );
    for s in members() {
        sql.push_str(&format!(
            "INSERT INTO support.conversations (id, workspace_id, status, escalated_at, subject)
               VALUES ('{}', '{W}', 'escalated', now() - interval '2 hours', 'held by {}');",
            s.own_conversation, s.name
        ));
    }
    c.batch_execute(&sql)
        .await
        .unwrap_or_else(|e| panic!("fixture: conversations: {e}"));
    for s in members() {
        let role = if s.name == "bot" { "bot" } else { "agent" };
        let claim = format!(
            "UPDATE support.conversations SET status = 'claimed', claimed_by = '{}', claimed_at = now() WHERE id = '{}'",
            s.id, s.own_conversation
        );
        if superuser_write(&c, &claim).await {
            notes.push(format!(
                "the superuser's claim for {} was refused: set with triggers off",
                s.name
            ));
        }
        let message = format!(
            "INSERT INTO support.conversation_messages (id, workspace_id, conversation_id, role, author_id, content)
               VALUES ('{}', '{W}', '{C_ACTIVE}', '{role}', '{}', 'written by {}')",
            s.own_message, s.id, s.name
        );
        if superuser_write(&c, &message).await {
            notes.push(format!(
                "the superuser's message by {} was refused: inserted with triggers off",
                s.name
            ));
        }
    }
    // Read positions, by the superuser: every member subject, G2 and S at
    // M_G2 in C_ACTIVE (so each has messages after it), XG in X.
    c.batch_execute(&format!(
        "INSERT INTO support.conversation_reads (workspace_id, conversation_id, user_id, read_created_at, read_message_id)
         SELECT m.workspace_id, m.conversation_id, u.id, m.created_at, m.id
           FROM support.conversation_messages m, support.users u
          WHERE (m.id = '{M_G2}' AND u.id IN ('{O}', '{A}', '{G}', '{G2}', '{V}', '{B}', '{S}'))
             OR (m.id = '{M_X}' AND u.id = '{XG}')"
    ))
    .await
    .unwrap_or_else(|e| panic!("fixture: read positions: {e}"));
    // The fixture is what the tests say it is.
    let waiting: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM support.conversations WHERE workspace_id = '{W}' AND status = 'escalated'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 1, "fixture: one conversation waiting in W");
    for s in members() {
        let holder: Option<String> = c
            .query_one(
                &format!(
                    "SELECT claimed_by::text FROM support.conversations WHERE id = '{}'",
                    s.own_conversation
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            holder.as_deref(),
            Some(s.id),
            "fixture: {} holds its conversation",
            s.name
        );
    }
    // Staff: S and S2 are staff of every workspace that allows them, members of none; W allows, X refuses.
    let staff: String = c
        .query_one(
            &format!(
                "SELECT string_agg(s.user_id::text || ' ' || s.role || ' ' || s.all_workspaces
                                   || ' ' || (SELECT count(*) FROM support.workspace_members m WHERE m.user_id = s.user_id),
                                   ', ' ORDER BY s.user_id)
                        || '; W ' || (SELECT staff_access FROM support.workspaces WHERE id = '{W}')
                        || ', X ' || (SELECT staff_access FROM support.workspaces WHERE id = '{X}')
                   FROM support.staff s"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        staff,
        format!("{S} agent true 0, {S2} agent true 0; W true, X false"),
        "fixture: the staff"
    );
    (c, notes)
}
