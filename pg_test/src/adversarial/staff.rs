//! Support staff in the adversarial world: who they are, whom they serve, which workspaces refuse them, and the joins and refusals that build it, each compared with the reference model.
//!
//! The cast ([`Cast`]): a staff user of every workspace (`all`, role agent), a
//! staff user of a configured set of three workspaces (`set`, role admin,
//! all_workspaces = false + support.staff_workspaces), and a member of some
//! workspaces who is also staff of every workspace (`member`, role agent).
//! Two workspaces refuse staff from the start (one of them in `set`'s set),
//! refused by their owner through support.set_staff_access after a non-owner
//! member and a staff user were refused the same call. `all` joins two
//! workspaces and `set` one (support.join_as_staff); joins that must fail
//! (outside the set, a refusing workspace, a member who is not staff) are
//! tried too. Later ([`refusal_phase`]) a workspace `all` joined, where `all`
//! holds a claim and wrote a message, refuses staff: `all` is removed, the
//! claim goes back to the queue.

use tokio_postgres::Client;

use super::session::{begin, run_op, Identity};
use super::{Report, World};
use crate::model::{Op, Role, Staff, User};
use crate::outcome::Outcome;
use crate::rng::Rng;

/// The staff users and the workspaces of the staff story.
#[derive(Clone, Debug, Default)]
pub struct Cast {
    /// Staff of every workspace that allows staff (role agent).
    pub all: String,
    /// Staff of `set_workspaces` only (role admin).
    pub set: String,
    pub set_workspaces: Vec<String>,
    /// A member of some workspaces who is also staff of every workspace (role agent).
    pub member: String,
    /// Refuse staff from the start (the first is in `set_workspaces`).
    pub refused: Vec<String>,
    /// Joined by `all`; the first refuses staff in [`refusal_phase`].
    pub joined_by_all: Vec<String>,
    /// Joined by `set` (in `set_workspaces`).
    pub joined_by_set: String,
    /// Allows staff, in `set_workspaces`, joined by nobody (for the family's own refusals).
    pub spare_in_set: String,
}

impl Cast {
    pub fn users(&self) -> [&str; 3] {
        [&self.all, &self.set, &self.member]
    }
}

/// One statement as `identity` in its own transaction, committed when it
/// succeeds: its outcome and the first column of its first row.
pub async fn call_as(app: &Client, identity: &Identity, sql: &str) -> (Outcome, Option<String>) {
    begin(app, identity, "").await;
    let (o, first) = match app.simple_query(sql).await {
        Ok(messages) => {
            let mut rows = 0u64;
            let mut first = None;
            for m in &messages {
                if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                    if rows == 0 {
                        first = r.get(0).map(str::to_string);
                    }
                    rows += 1;
                }
            }
            (Outcome::ok(rows), first)
        }
        Err(e) => (Outcome::from_error(&e), None),
    };
    app.batch_execute(if o.is_error() { "ROLLBACK" } else { "COMMIT" })
        .await
        .unwrap();
    (o, first)
}

/// support.join_as_staff by `user`, compared with the model (and applied to it).
pub async fn join(
    app: &Client,
    w: &mut World,
    report: &mut Report,
    ws: &str,
    user: &str,
    n: usize,
) {
    let identity = Identity::of(user, n);
    let before = w.model.role(ws, user);
    let expected = w.model.join_as_staff(ws, Some(user));
    let (o, returned) = call_as(
        app,
        &identity,
        &format!("SELECT x.user_id::text || ' ' || x.role || ' ' || x.joined_as_staff FROM support.join_as_staff('{ws}') AS x"),
    )
    .await;
    report.case("staff");
    let label = format!("{}: join_as_staff({ws}) ({})", identity.label(), w.phase);
    if o.state != expected {
        let line = format!(
            "{label}: the model says {expected}, the server said {}",
            o.describe()
        );
        if o.state == "00000" {
            report.leak(line);
        } else {
            report.fail(line);
        }
        return;
    }
    if expected == "00000" {
        let role = w.model.role(ws, user).expect("a member now").as_str();
        let flag = before.is_none();
        let want = format!("{user} {role} {flag}");
        if returned.as_deref() != Some(want.as_str()) {
            report.fail(format!(
                "{label}: returned {returned:?}, the model says {want}"
            ));
        }
    }
}

/// support.set_staff_access by `user`, compared with the model (and applied to it).
pub async fn set_access(
    app: &Client,
    w: &mut World,
    report: &mut Report,
    ws: &str,
    user: &str,
    allowed: bool,
    n: usize,
) {
    let identity = Identity::of(user, n);
    let expected = w.model.set_staff_access(ws, Some(user), allowed);
    let (o, returned) = call_as(
        app,
        &identity,
        &format!("SELECT support.set_staff_access('{ws}', {allowed})::text"),
    )
    .await;
    report.case("staff");
    let label = format!(
        "{}: set_staff_access({ws}, {allowed}) as {} ({})",
        identity.label(),
        w.model.subject(ws, user).unwrap_or("a stranger"),
        w.phase
    );
    if o.state != expected {
        let line = format!(
            "{label}: the model says {expected}, the server said {}",
            o.describe()
        );
        if o.state == "00000" {
            report.leak(line);
        } else {
            report.fail(line);
        }
    } else if expected == "00000"
        && returned.as_deref() != Some(if allowed { "true" } else { "false" })
    {
        report.fail(format!("{label}: returned {returned:?}"));
    }
}

/// A human member of `ws` who is not an owner and not staff, if any.
fn non_owner(w: &World, ws: &str) -> Option<String> {
    w.model
        .members_of(ws)
        .into_iter()
        .find(|(u, r)| {
            *r != Role::Owner && w.model.users[u].kind == "human" && !w.model.staff.contains_key(u)
        })
        .map(|(u, _)| u)
}

/// An owner of `ws`; when it has none, the DBA makes a human member one.
pub async fn owner_of(owner: &Client, w: &mut World, ws: &str) -> String {
    let members = w.model.members_of(ws);
    if let Some((u, _)) = members.iter().find(|(_, r)| *r == Role::Owner) {
        return u.clone();
    }
    let (u, _) = members
        .iter()
        .find(|(u, _)| w.model.users[u].kind == "human" && !w.model.staff.contains_key(u))
        .expect("a human member")
        .clone();
    owner
        .batch_execute(&format!(
            "UPDATE support.workspace_members SET role = 'owner' WHERE workspace_id = '{ws}' AND user_id = '{u}'"
        ))
        .await
        .unwrap();
    w.model.next_tick();
    w.model
        .members
        .insert((ws.to_string(), u.clone()), Role::Owner);
    u
}

/// The staff users, whom they serve, the workspaces that refuse them, and
/// their joins (see the module's documentation).
pub async fn generate_staff(
    owner: &Client,
    app: &Client,
    w: &mut World,
    rng: &mut Rng,
    report: &mut Report,
) {
    w.phase = "staff";
    let mut all_ws: Vec<String> = w.model.workspaces.keys().cloned().collect();
    assert!(all_ws.len() >= 7, "the staff story needs 7 workspaces");
    // Shuffle: the roles of the workspaces follow the seed.
    for i in (1..all_ws.len()).rev() {
        let j = rng.below(i + 1);
        all_ws.swap(i, j);
    }
    let mut sql = String::new();
    let mut new_staff = |label: &str, rng: &mut Rng, w: &mut World| {
        let id = rng.uuid();
        let display_name = format!("username-{label}-{}", rng.hex(16));
        sql.push_str(&format!(
            "INSERT INTO support.users (id, kind, display_name) VALUES ('{id}', 'human', '{display_name}');\n"
        ));
        w.model.users.insert(
            id.clone(),
            User {
                id: id.clone(),
                kind: "human",
                display_name,
            },
        );
        id
    };
    let all = new_staff("staff-all", rng, w);
    let set = new_staff("staff-set", rng, w);
    // A member who is also staff: one with a viewer membership if any.
    let humans_in: Vec<(String, Role)> = w
        .model
        .members
        .iter()
        .filter(|((_, u), _)| w.model.users[u].kind == "human")
        .map(|((_, u), r)| (u.clone(), *r))
        .collect();
    let member = humans_in
        .iter()
        .find(|(_, r)| *r == Role::Viewer)
        .or_else(|| humans_in.first())
        .expect("a human member")
        .0
        .clone();
    let set_workspaces: Vec<String> = all_ws[..3].to_vec();
    let others: Vec<String> = all_ws[3..].to_vec();
    sql.push_str(&format!(
        "INSERT INTO support.staff (user_id, role, all_workspaces) VALUES ('{all}', 'agent', true), \
         ('{set}', 'admin', false), ('{member}', 'agent', true);\n"
    ));
    for ws in &set_workspaces {
        sql.push_str(&format!(
            "INSERT INTO support.staff_workspaces (workspace_id, user_id) VALUES ('{ws}', '{set}');\n"
        ));
    }
    owner.batch_execute(&sql).await.unwrap();
    w.model.next_tick();
    for (u, role, every) in [(&all, Role::Agent, true), (&member, Role::Agent, true)] {
        w.model.staff.insert(
            u.clone(),
            Staff {
                role,
                all_workspaces: every,
                workspaces: Default::default(),
            },
        );
    }
    w.model.staff.insert(
        set.clone(),
        Staff {
            role: Role::Admin,
            all_workspaces: false,
            workspaces: set_workspaces.iter().cloned().collect(),
        },
    );
    let cast = Cast {
        all: all.clone(),
        set: set.clone(),
        set_workspaces: set_workspaces.clone(),
        member: member.clone(),
        refused: vec![set_workspaces[0].clone(), others[0].clone()],
        joined_by_all: vec![others[1].clone(), others[2].clone()],
        joined_by_set: set_workspaces[1].clone(),
        spare_in_set: set_workspaces[2].clone(),
    };
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    // Refusals: a non-owner member and a staff user are refused the call, then the owner refuses.
    for ws in &cast.refused {
        if let Some(u) = non_owner(w, ws) {
            set_access(app, w, report, ws, &u, false, next()).await;
        }
        set_access(app, w, report, ws, &set, false, next()).await;
        set_access(app, w, report, ws, &all, false, next()).await;
        let o = owner_of(owner, w, ws).await;
        set_access(app, w, report, ws, &o, false, next()).await;
        assert!(
            w.model.refuses_staff.contains(ws),
            "{ws} refuses staff ({})",
            w.phase
        );
    }
    // The workspace `all` will leave by refusal has an owner to refuse it.
    owner_of(owner, w, &cast.joined_by_all[0]).await;
    // Joins.
    for ws in &cast.joined_by_all {
        join(app, w, report, ws, &all, next()).await;
    }
    join(app, w, report, &cast.joined_by_set, &set, next()).await;
    // Joins that must fail: outside the set, a refusing workspace (in and out
    // of the set), a member who is not staff; and one that changes nothing
    // (staff already a member).
    join(app, w, report, &others[3], &set, next()).await;
    join(app, w, report, &cast.refused[0], &set, next()).await;
    join(app, w, report, &cast.refused[1], &all, next()).await;
    if let Some(u) = non_owner(w, &others[3]) {
        join(app, w, report, &others[3], &u, next()).await;
    }
    let member_ws: Vec<String> = w.model.memberships_of(Some(&member)).into_iter().collect();
    for ws in member_ws.iter().take(2) {
        join(app, w, report, ws, &member, next()).await;
    }
    for ws in &cast.joined_by_all {
        assert_eq!(
            w.model.role(ws, &all),
            Some(Role::Agent),
            "{all} joined {ws}"
        );
    }
    assert_eq!(
        w.model.role(&cast.joined_by_set, &set),
        Some(Role::Admin),
        "{set} joined {}",
        cast.joined_by_set
    );
    println!(
        "adversarial: support staff: {} serves every workspace that allows staff, {} serves {} of {} workspaces, \
         {} is staff and a member of {}; {} workspaces refuse staff; {} memberships joined as staff",
        cast.all,
        cast.set,
        cast.set_workspaces.len(),
        w.model.workspaces.len(),
        cast.member,
        w.model.memberships_of(Some(&cast.member)).len(),
        w.model.refuses_staff.len(),
        w.model.joined_as_staff.len()
    );
    w.staff = cast;
    w.phase = "set-up";
}

/// The first workspace `all` joined refuses staff, while `all` holds a
/// claim there and wrote a message: `all` is removed (audited), the claim
/// goes back to the queue with the owner as actor, the message loses its
/// author. Each step compared with the model.
pub async fn refusal_phase(owner: &Client, app: &Client, w: &mut World, report: &mut Report) {
    w.phase = "staff refusal";
    let ws = w.staff.joined_by_all[0].clone();
    let all = w.staff.all.clone();
    if w.model.role(&ws, &all).is_none() {
        // The DBA removed the membership in the deletion phase: join again.
        join(app, w, report, &ws, &all, 0).await;
    }
    let identity = Identity::UserId(all.clone());
    // A claim: a waiting conversation, or one made waiting by `all`.
    let waiting = w
        .model
        .live_conversations()
        .find(|c| c.workspace == ws && c.status == "escalated")
        .map(|c| c.id.clone());
    let target = match waiting {
        Some(id) => Some(id),
        None => {
            let active = w
                .model
                .live_conversations()
                .find(|c| c.workspace == ws && c.status == "active")
                .map(|c| c.id.clone());
            if let Some(id) = &active {
                let op = Op::Escalate(id.clone(), Some("staff escalates".into()));
                let expected = w.model.lifecycle(Some(&all), &op);
                let got = run_op(app, &identity, &op).await;
                assert_eq!(got, expected, "{op:?} as joined staff ({})", w.phase);
            }
            active
        }
    };
    if let Some(id) = &target {
        let op = Op::Claim(id.clone());
        let expected = w.model.lifecycle(Some(&all), &op);
        let got = run_op(app, &identity, &op).await;
        report.case("staff");
        assert_eq!(got, expected, "{op:?} as joined staff ({})", w.phase);
    }
    // A message by `all`, as the agent they joined as.
    let conv = w
        .model
        .live_conversations()
        .find(|c| c.workspace == ws)
        .cloned();
    if let Some(c) = conv {
        let verdict = w.model.verdict(&ws, &all, "message.post_agent").unwrap();
        begin(app, &identity, "").await;
        // On Citus a message names its workspace (the shard key).
        let row = if crate::citus::enabled() {
            app.query_one(
                "INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, content) \
                 VALUES ($1::text::uuid, $2::text::uuid, 'agent', 'written by joined staff') RETURNING id::text",
                &[&c.workspace, &c.id],
            )
            .await
        } else {
            app.query_one(
                "INSERT INTO support.conversation_messages (conversation_id, role, content) \
                 VALUES ($1::text::uuid, 'agent', 'written by joined staff') RETURNING id::text",
                &[&c.id],
            )
            .await
        };
        report.case("staff");
        if let Some(row) = super::session::as_the_matrix_says(
            app,
            row,
            verdict,
            "joined staff posts an agent message",
        )
        .await
        {
            let id: String = row.get(0);
            w.model.insert_message(
                &id,
                &c.id,
                "agent",
                Some(all.clone()),
                "written by joined staff",
            );
        }
    }
    let held: Vec<String> = w
        .model
        .live_conversations()
        .filter(|c| c.workspace == ws && c.claimed_by.as_deref() == Some(all.as_str()))
        .map(|c| c.id.clone())
        .collect();
    let written = w
        .model
        .live_messages()
        .filter(|m| m.workspace == ws && m.author.as_deref() == Some(all.as_str()))
        .count();
    let o = owner_of(owner, w, &ws).await;
    set_access(app, w, report, &ws, &o, false, 0).await;
    assert!(
        w.model.role(&ws, &all).is_none(),
        "the refusal removed {all} from {ws}"
    );
    println!(
        "adversarial: {ws} refused staff while {all} (joined as staff) held {} conversations and had written {written} \
         messages: removed, the claims back in the queue",
        held.len()
    );
    w.phase = "set-up";
}
