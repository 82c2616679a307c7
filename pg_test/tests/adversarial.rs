//! Adversarial isolation suite (issue 5, part 4).
//!
//! Seeded random tenants (workspaces, users with overlapping memberships and
//! random roles, conversations, messages, lifecycle events made through the
//! lifecycle functions) and a reference model in Rust (tests/support_model)
//! of what each end user may see. Then, for every user:
//! - every read path (each table, each function, several plan shapes, COPY,
//!   cursors, prepared and generic plans, views and functions created by the
//!   application role) returns exactly what the model says;
//! - every cross-workspace write path is rejected (or affects 0 rows), the
//!   database is byte-for-byte unchanged, and the error for another
//!   workspace's id equals the error for an id that does not exist;
//! - every write on the user's own workspaces (conversations, messages,
//!   lifecycle calls) is allowed or refused exactly as docs/permissions.tsv
//!   says for the user's role there (the model reads its role rules from it).
//!
//! And the attacks a hostile tenant would try: a search_path hijack with
//! objects planted in public and pg_temp, existence oracles (errors, lock
//! waits), non-LEAKPROOF functions, operators, casts and planner estimators
//! in WHERE clauses, and views, functions and settings that try to get round
//! the policies. Prints "N cases ran, 0 leaked".
//!
//! Reproduce a run with `CX_SEED=<seed> pg_test/run.sh --test adversarial`;
//! `CX_ADV_SCALE=<n>` multiplies the number of tenants and operations.

mod common;
mod harness;
mod matrix;
mod support_model;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{fresh_database, APP_ROLE};
use harness::*;
use support_model::*;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

const DB: &str = "cx_adversarial";
/// A login role that is a member of the application role, as an API server's
/// connection role would be: RESET ROLE leads back to it, not to a superuser.
const TENANT: &str = "cx_tenant";
const DEFAULT_SEED: u64 = 0x5eed_0000_0005_0004;
/// What a planted `gen_random_uuid()` would return.
const PLANTED_UUID: &str = "00000000-0000-4000-8000-000000000bad";

const CHANNELS: [&str; 6] = ["web", "email", "sms", "whatsapp", "voice", "api"];
const MESSAGE_ROLES: [&str; 4] = ["customer", "bot", "agent", "system"];

// ---------------------------------------------------------------- identity

/// How an end user is named for one transaction.
#[derive(Clone, Debug)]
enum Identity {
    Claims(String),
    ClaimSub(String),
    UserId(String),
    Nobody,
}

impl Identity {
    /// Rotates over the three identity sources.
    fn of(user: &str, n: usize) -> Self {
        match n % 3 {
            0 => Identity::Claims(user.to_string()),
            1 => Identity::ClaimSub(user.to_string()),
            _ => Identity::UserId(user.to_string()),
        }
    }
    fn user(&self) -> Option<&str> {
        match self {
            Identity::Claims(u) | Identity::ClaimSub(u) | Identity::UserId(u) => Some(u),
            Identity::Nobody => None,
        }
    }
    fn set_local(&self) -> String {
        match self {
            Identity::Claims(u) => format!("SET LOCAL request.jwt.claims = '{{\"sub\":\"{u}\"}}';"),
            Identity::ClaimSub(u) => format!("SET LOCAL request.jwt.claim.sub = '{u}';"),
            Identity::UserId(u) => format!("SET LOCAL support.user_id = '{u}';"),
            Identity::Nobody => String::new(),
        }
    }
    fn label(&self) -> String {
        match self {
            Identity::Claims(u) => format!("claims:{u}"),
            Identity::ClaimSub(u) => format!("claim.sub:{u}"),
            Identity::UserId(u) => format!("user_id:{u}"),
            Identity::Nobody => "nobody".into(),
        }
    }
}

// ---------------------------------------------------------------- report

#[derive(Default)]
struct Report {
    cases: u64,
    by_area: BTreeMap<&'static str, u64>,
    leaks: Vec<String>,
    failures: Vec<String>,
}

impl Report {
    fn case(&mut self, area: &'static str) {
        self.cases += 1;
        *self.by_area.entry(area).or_default() += 1;
    }
    fn leak(&mut self, what: String) {
        if self.leaks.len() < 50 {
            eprintln!("LEAK: {what}");
        }
        self.leaks.push(what);
    }
    fn fail(&mut self, what: String) {
        if self.failures.len() < 50 {
            eprintln!("FAIL: {what}");
        }
        self.failures.push(what);
    }
    /// One read-path case: extra rows are leaks, missing rows are failures.
    fn compare(
        &mut self,
        area: &'static str,
        label: &str,
        actual: Result<Vec<String>, String>,
        expected: &[String],
    ) {
        self.case(area);
        let actual = match actual {
            Ok(a) => a,
            Err(e) => return self.fail(format!("{label}: error {e}")),
        };
        let mut a = actual.clone();
        a.sort();
        let mut e = expected.to_vec();
        e.sort();
        if a == e {
            return;
        }
        let exp: BTreeSet<&String> = e.iter().collect();
        let act: BTreeSet<&String> = a.iter().collect();
        let extra: Vec<&&String> = act.difference(&exp).collect();
        let missing: Vec<&&String> = exp.difference(&act).collect();
        if !extra.is_empty() || a.len() > e.len() {
            self.leak(format!(
                "{label}: {} rows beyond the model, e.g. {:?}",
                a.len().saturating_sub(e.len()).max(extra.len()),
                extra.iter().take(3).collect::<Vec<_>>()
            ));
        } else {
            self.fail(format!(
                "{label}: {} rows missing, e.g. {:?}",
                missing.len(),
                missing.iter().take(3).collect::<Vec<_>>()
            ));
        }
    }
}

// ---------------------------------------------------------------- db helpers

async fn begin(c: &Client, identity: &Identity, setup: &str) {
    c.batch_execute(&format!("BEGIN; {} {setup}", identity.set_local()))
        .await
        .unwrap_or_else(|e| panic!("begin as {}: {e}", identity.label()));
}

/// First column of every row of `sql` (simple protocol) as `identity`.
async fn rows_as(
    c: &Client,
    identity: &Identity,
    setup: &str,
    sql: &str,
) -> Result<Vec<String>, String> {
    begin(c, identity, setup).await;
    let r = c.simple_query(sql).await;
    let out = match r {
        Ok(messages) => Ok(messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some(row.get(0).unwrap_or("NULL").to_string())
                }
                _ => None,
            })
            .collect()),
        Err(e) => Err(Outcome::from_error(&e).describe()),
    };
    c.batch_execute("ROLLBACK").await.unwrap();
    out
}

/// Rows of a COPY ... TO STDOUT as `identity`.
async fn copy_as(c: &Client, identity: &Identity, sql: &str) -> Result<Vec<String>, String> {
    use futures::TryStreamExt;
    begin(c, identity, "").await;
    let r = async {
        let stream = c.copy_out(sql).await?;
        futures::pin_mut!(stream);
        let mut all: Vec<u8> = Vec::new();
        while let Some(chunk) = stream.try_next().await? {
            all.extend_from_slice(&chunk);
        }
        Ok::<_, tokio_postgres::Error>(all)
    }
    .await;
    c.batch_execute("ROLLBACK").await.unwrap();
    match r {
        Ok(all) => Ok(String::from_utf8_lossy(&all)
            .lines()
            .map(str::to_string)
            .collect()),
        Err(e) => Err(Outcome::from_error(&e).describe()),
    }
}

/// One statement as `identity` in its own transaction, committed (an error
/// rolls it back).
async fn attempt_as(c: &Client, identity: &Identity, sql: &str) -> Outcome {
    begin(c, identity, "").await;
    let o = outcome(c, sql).await;
    c.batch_execute("COMMIT").await.unwrap();
    o
}

/// One statement as `identity`, always rolled back.
async fn try_as(c: &Client, identity: &Identity, setup: &str, sql: &str) -> Outcome {
    begin(c, identity, setup).await;
    let o = outcome(c, sql).await;
    c.batch_execute("ROLLBACK").await.unwrap();
    o
}

/// Runs one lifecycle call as `identity` in its own transaction.
async fn run_op(c: &Client, identity: &Identity, op: &Op) -> Expect {
    begin(c, identity, "").await;
    let (sql, args) = op.sql();
    let params: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
    let r = c.query(sql.as_str(), &params).await;
    match r {
        Ok(rows) => {
            c.batch_execute("COMMIT").await.unwrap();
            let row = &rows[0];
            let id: Option<String> = row.get(0);
            Expect {
                state: "00000",
                row: id.map(|id| (id, row.get(1), row.get(2))),
            }
        }
        Err(e) => {
            c.batch_execute("ROLLBACK").await.unwrap();
            let state = e.code().map(|c| c.code().to_string()).unwrap_or_default();
            Expect {
                state: Box::leak(state.into_boxed_str()),
                row: None,
            }
        }
    }
}

/// md5 over every row of every table of schema `support`, found in the
/// catalog (so member_events and jwt_keys are covered, and any table added
/// later), as the superuser. Shadows harness::checksum (six tables).
async fn checksum(superuser: &Client) -> String {
    let tables: Vec<String> = superuser
        .query(
            "SELECT c.relname::text FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
              WHERE n.nspname = 'support' AND c.relkind IN ('r', 'p') ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.len() >= 8, "support tables: {tables:?}");
    let parts: Vec<String> = tables
        .iter()
        .map(|t| format!("SELECT '{t} ' || t::text AS r FROM support.{t} t"))
        .collect();
    let sql = format!(
        "SELECT md5(coalesce(string_agg(r, E'\\n' ORDER BY r), '')) FROM ({}) AS q",
        parts.join(" UNION ALL ")
    );
    superuser
        .query_one(sql.as_str(), &[])
        .await
        .expect("checksum")
        .get::<_, Option<String>>(0)
        .unwrap_or_default()
}

/// Ends the transaction of a write whose outcome the matrix predicts
/// (`verdict`, "00000": allowed): commits an allowed write and returns its
/// row; a refused one must have failed with exactly that SQLSTATE.
async fn as_the_matrix_says(
    app: &Client,
    result: Result<tokio_postgres::Row, tokio_postgres::Error>,
    verdict: &str,
    what: &str,
) -> Option<tokio_postgres::Row> {
    match result {
        Ok(row) => {
            app.batch_execute("COMMIT").await.unwrap();
            assert_eq!(
                verdict, "00000",
                "{what}: the server allowed it, docs/permissions.tsv says {verdict}"
            );
            Some(row)
        }
        Err(e) => {
            app.batch_execute("ROLLBACK").await.unwrap();
            let state = e.code().map(|c| c.code().to_string()).unwrap_or_default();
            let said = Outcome::from_error(&e).describe();
            assert_eq!(
                state, verdict,
                "{what}: the server said {said}, docs/permissions.tsv says {verdict}"
            );
            None
        }
    }
}

// ---------------------------------------------------------------- world

struct World {
    model: Model,
    /// Users that are not in support.users (a valid identity nobody created).
    ghost: String,
    /// Ids ever handed out for conversations and messages (deleted ones too).
    all_conversation_ids: Vec<String>,
    op_cases: u64,
    /// What is being run (for failure messages).
    phase: &'static str,
}

impl World {
    fn user_ids(&self) -> Vec<String> {
        self.model.users.keys().cloned().collect()
    }
    fn identities(&self) -> Vec<Identity> {
        let mut out: Vec<Identity> = self
            .user_ids()
            .iter()
            .enumerate()
            .map(|(i, u)| Identity::of(u, i))
            .collect();
        out.push(Identity::Claims(self.ghost.clone()));
        out.push(Identity::Nobody);
        out
    }
}

/// Loads what fresh_database created (W1, W2, U1, U2) into the model.
async fn load_fixture(owner: &Client, model: &mut Model) {
    for r in owner
        .query("SELECT id::text, name FROM support.workspaces", &[])
        .await
        .unwrap()
    {
        model.workspaces.insert(r.get(0), r.get(1));
    }
    for r in owner
        .query(
            "SELECT id::text, kind, coalesce(display_name, '') FROM support.users",
            &[],
        )
        .await
        .unwrap()
    {
        let kind: String = r.get(1);
        model.users.insert(
            r.get(0),
            User {
                id: r.get(0),
                kind: if kind == "bot" { "bot" } else { "human" },
                display_name: r.get(2),
            },
        );
    }
    for r in owner
        .query(
            "SELECT workspace_id::text, user_id::text, role FROM support.workspace_members",
            &[],
        )
        .await
        .unwrap()
    {
        let role = match r.get::<_, String>(2).as_str() {
            "owner" => Role::Owner,
            "admin" => Role::Admin,
            "viewer" => Role::Viewer,
            _ => Role::Agent,
        };
        model.members.insert((r.get(0), r.get(1)), role);
    }
}

fn random_role(rng: &mut Rng) -> Role {
    match rng.below(20) {
        0..=1 => Role::Owner,
        2..=4 => Role::Admin,
        5..=14 => Role::Agent,
        _ => Role::Viewer,
    }
}

/// Workspaces, users and memberships, written by the DBA.
async fn generate_directory(owner: &Client, w: &mut World, rng: &mut Rng, scale: usize) {
    let n_ws = 8 * scale;
    let n_humans = 22 * scale;
    let n_bots = 4 * scale;
    let mut sql = String::new();
    for i in 0..n_ws {
        let id = rng.uuid();
        let name = format!("wsname-{i}-{}", rng.hex(16));
        sql.push_str(&format!(
            "INSERT INTO support.workspaces (id, name) VALUES ('{id}', '{name}');\n"
        ));
        w.model.workspaces.insert(id, name);
    }
    let mut humans = Vec::new();
    let mut bots = Vec::new();
    for i in 0..(n_humans + n_bots) {
        let id = rng.uuid();
        let kind = if i < n_humans { "human" } else { "bot" };
        let display_name = format!("username-{i}-{}", rng.hex(16));
        sql.push_str(&format!(
            "INSERT INTO support.users (id, kind, display_name) VALUES ('{id}', '{kind}', '{display_name}');\n"
        ));
        w.model.users.insert(
            id.clone(),
            User {
                id: id.clone(),
                kind,
                display_name,
            },
        );
        if kind == "human" {
            humans.push(id);
        } else {
            bots.push(id);
        }
    }
    // Random overlapping memberships; the last two humans belong nowhere.
    let joinable = &humans[..humans.len() - 2];
    let all_ws: Vec<String> = w.model.workspaces.keys().cloned().collect();
    for u in joinable {
        for ws in &all_ws {
            if rng.chance(28) {
                w.model
                    .members
                    .insert((ws.clone(), u.clone()), random_role(rng));
            }
        }
    }
    for b in &bots {
        for ws in &all_ws {
            if rng.chance(30) {
                w.model.members.insert((ws.clone(), b.clone()), Role::Agent);
            }
        }
    }
    // Every workspace has at least two members who can own conversations.
    for ws in &all_ws {
        while w
            .model
            .members_of(ws)
            .iter()
            .filter(|(u, _)| w.model.can_claim(ws, u))
            .count()
            < 2
        {
            let u = rng.pick(joinable).clone();
            w.model.members.insert((ws.clone(), u), Role::Agent);
        }
    }
    // Upsert: the fixture's memberships (W1/U1, W2/U2) may have been re-drawn above.
    for ((ws, u), role) in &w.model.members {
        sql.push_str(&format!(
            "INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES ('{ws}', '{u}', '{}') \
             ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role;\n",
            role.as_str()
        ));
    }
    owner.batch_execute(&sql).await.unwrap();
}

/// A member of `ws` (any role), if any.
fn random_member(model: &Model, rng: &mut Rng, ws: &str) -> Option<String> {
    let m = model.members_of(ws);
    (!m.is_empty()).then(|| m[rng.below(m.len())].0.clone())
}

/// A member of `ws` to attempt `action`: mostly one the matrix allows, else any.
fn deleter(model: &Model, rng: &mut Rng, ws: &str, action: &str) -> Option<String> {
    let allowed: Vec<String> = model
        .members_of(ws)
        .into_iter()
        .map(|(u, _)| u)
        .filter(|u| model.may(ws, u, action))
        .collect();
    if !allowed.is_empty() && rng.chance(75) {
        return Some(rng.pick(&allowed).clone());
    }
    random_member(model, rng, ws)
}

/// Conversations and messages, written by members through the application role.
async fn generate_content(app: &Client, w: &mut World, rng: &mut Rng, scale: usize) {
    let all_ws: Vec<String> = w.model.workspaces.keys().cloned().collect();
    let mut n = 0usize;
    for ws in &all_ws {
        for _ in 0..rng.range(2, 5 + scale) {
            let Some(creator) = random_member(&w.model, rng, ws) else {
                continue;
            };
            let verdict = w
                .model
                .verdict(ws, &creator, "conversation.create")
                .unwrap();
            let status = if rng.chance(60) {
                "active"
            } else {
                "escalated"
            };
            let bots: Vec<String> = w
                .model
                .members_of(ws)
                .into_iter()
                .filter(|(u, _)| w.model.users[u].kind == "bot")
                .map(|(u, _)| u)
                .collect();
            let bot = (!bots.is_empty() && rng.chance(50)).then(|| rng.pick(&bots).clone());
            let channel = *rng.pick(&CHANNELS);
            let subject = format!("subject-{}", rng.hex(20));
            let identity = Identity::of(&creator, n);
            n += 1;
            begin(app, &identity, "").await;
            let row = app
                .query_one(
                    "INSERT INTO support.conversations (workspace_id, bot_user_id, channel, status, subject) \
                     VALUES ($1::text::uuid, $2::text::uuid, $3::text, $4::text, $5::text) RETURNING id::text",
                    &[ws, &bot, &channel, &status, &subject],
                )
                .await;
            let Some(row) = as_the_matrix_says(
                app,
                row,
                verdict,
                &format!("{creator} opens a conversation in {ws} ({})", w.phase),
            )
            .await
            else {
                continue;
            };
            let id: String = row.get(0);
            w.model
                .insert_conversation(&creator, &id, ws, status, bot, channel, &subject);
            w.all_conversation_ids.push(id);
        }
    }
    let conversations: Vec<(String, String)> = w
        .model
        .live_conversations()
        .map(|c| (c.id.clone(), c.workspace.clone()))
        .collect();
    for (cid, ws) in &conversations {
        for _ in 0..rng.range(0, 3) {
            let Some(writer) = random_member(&w.model, rng, ws) else {
                continue;
            };
            // Mostly a role the writer may post (matrix), sometimes any.
            let fitting: Vec<&str> = MESSAGE_ROLES
                .iter()
                .copied()
                .filter(|r| w.model.may(ws, &writer, &format!("message.post_{r}")))
                .collect();
            let role = if !fitting.is_empty() && rng.chance(75) {
                *rng.pick(&fitting)
            } else {
                *rng.pick(&MESSAGE_ROLES)
            };
            let author = match rng.below(8) {
                0..=2 => Some(writer.clone()),
                3..=6 => None,
                _ => random_member(&w.model, rng, ws),
            };
            let forged = author.as_deref().is_some_and(|a| a != writer);
            let verdict = [
                forged.then_some("message.post_as_other"),
                Some(&*format!("message.post_{role}")),
            ]
            .into_iter()
            .flatten()
            .map(|a| w.model.verdict(ws, &writer, a).unwrap())
            .find(|v| *v != "00000")
            .unwrap_or("00000");
            let content = format!("content-{}", rng.hex(20));
            let with_ws = rng.chance(50);
            let identity = Identity::of(&writer, n);
            n += 1;
            begin(app, &identity, "").await;
            let row = if with_ws {
                app.query_one(
                    "INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, author_id, content) \
                     VALUES ($1::text::uuid, $2::text::uuid, $3::text, $4::text::uuid, $5::text) RETURNING id::text",
                    &[ws, cid, &role, &author, &content],
                )
                .await
            } else {
                app.query_one(
                    "INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) \
                     VALUES ($1::text::uuid, $2::text, $3::text::uuid, $4::text) RETURNING id::text",
                    &[cid, &role, &author, &content],
                )
                .await
            };
            let what = format!("{writer} posts a {role} message in {cid} ({})", w.phase);
            let Some(row) = as_the_matrix_says(app, row, verdict, &what).await else {
                continue;
            };
            let id: String = row.get(0);
            // author_id is always the caller (filled in when omitted).
            w.model
                .insert_message(&id, cid, role, Some(writer.clone()), &content);
        }
    }
}

/// `n` random lifecycle calls, each compared with the model's prediction.
async fn lifecycle_phase(
    app: &Client,
    w: &mut World,
    rng: &mut Rng,
    n: usize,
    report: &mut Report,
) {
    let users = w.user_ids();
    let all_ws: Vec<String> = w.model.workspaces.keys().cloned().collect();
    for i in 0..n {
        let live: Vec<Conversation> = w.model.live_conversations().cloned().collect();
        let target = rng.pick(&live).clone();
        let actor = if rng.chance(2) {
            None
        } else if rng.chance(85) {
            random_member(&w.model, rng, &target.workspace)
        } else {
            Some(rng.pick(&users).clone())
        };
        let id = match rng.below(20) {
            0..=16 => target.id.clone(),
            17..=18 => rng.pick(&w.all_conversation_ids).clone(),
            _ => rng.uuid(),
        };
        let ws = if rng.chance(85) {
            target.workspace.clone()
        } else {
            rng.pick(&all_ws).clone()
        };
        let op = match rng.below(7) {
            0 => Op::Escalate(
                id,
                rng.chance(70).then(|| format!("reason-{}", rng.hex(20))),
            ),
            1 => Op::Claim(id),
            2 => Op::ClaimNext(ws),
            3 => Op::Release(id),
            4 => {
                let to = if rng.chance(75) {
                    random_member(&w.model, rng, &target.workspace).unwrap_or_else(|| rng.uuid())
                } else {
                    rng.pick(&users).clone()
                };
                Op::Transfer(id, to)
            }
            5 => Op::Resolve(id),
            _ => Op::Reopen(id),
        };
        let identity = match &actor {
            Some(u) => Identity::of(u, i),
            None => Identity::Nobody,
        };
        let expected = w.model.lifecycle(actor.as_deref(), &op);
        let got = run_op(app, &identity, &op).await;
        report.case("lifecycle model");
        w.op_cases += 1;
        assert_eq!(
            got,
            expected,
            "lifecycle call {i} ({}): {op:?} as {} (model and database disagree)",
            w.phase,
            identity.label()
        );
    }
}

/// A few deletions by members, and memberships removed by the DBA.
async fn deletion_phase(
    owner: &Client,
    app: &Client,
    w: &mut World,
    rng: &mut Rng,
    owner_search_path: &str,
) {
    // Conversations deleted, refused; messages deleted, refused.
    let mut tally = [0usize; 4];
    for _ in 0..2 {
        let live: Vec<Conversation> = w.model.live_conversations().cloned().collect();
        let c = rng.pick(&live).clone();
        let Some(member) = deleter(&w.model, rng, &c.workspace, "conversation.delete") else {
            continue;
        };
        let identity = Identity::Claims(member.clone());
        let o = attempt_as(
            app,
            &identity,
            &format!(
                "DELETE FROM support.conversations WHERE id OPERATOR(pg_catalog.=) '{}'::uuid",
                c.id
            ),
        )
        .await;
        let verdict = w
            .model
            .verdict(&c.workspace, &member, "conversation.delete")
            .unwrap();
        if verdict != "00000" {
            assert_eq!(
                o.state,
                verdict,
                "member {member} deletes {} ({}): {}",
                c.id,
                w.phase,
                o.describe()
            );
            tally[1] += 1;
            continue;
        }
        assert_eq!(
            o.describe(),
            "00000 (1 rows)",
            "member deletes {} ({})",
            c.id,
            w.phase
        );
        tally[0] += 1;
        w.model.delete_conversation(Some(&member), &c.id);
    }
    for _ in 0..4 {
        let live: Vec<Message> = w.model.live_messages().cloned().collect();
        if live.is_empty() {
            break;
        }
        let m = rng.pick(&live).clone();
        let Some(member) = deleter(&w.model, rng, &m.workspace, "message.delete") else {
            continue;
        };
        let o = attempt_as(
            app,
            &Identity::UserId(member.clone()),
            &format!(
                "DELETE FROM support.conversation_messages WHERE id OPERATOR(pg_catalog.=) '{}'::uuid",
                m.id
            ),
        )
        .await;
        let verdict = w
            .model
            .verdict(&m.workspace, &member, "message.delete")
            .unwrap();
        if verdict != "00000" {
            assert_eq!(
                o.state,
                verdict,
                "member {member} deletes message {}: {}",
                m.id,
                o.describe()
            );
            tally[3] += 1;
            continue;
        }
        assert_eq!(
            o.describe(),
            "00000 (1 rows)",
            "member deletes message {}",
            m.id
        );
        tally[2] += 1;
        w.model.delete_message(Some(&member), &m.id);
    }
    println!(
        "adversarial: deletions by members ({}): {} conversations and {} messages deleted, {} and {} refused as \
         docs/permissions.tsv says",
        w.phase, tally[0], tally[2], tally[1], tally[3]
    );
    // The DBA removes two memberships, preferring owners of claimed conversations.
    for _ in 0..2 {
        let claimed: Vec<(String, String)> = w
            .model
            .live_conversations()
            .filter_map(|c| c.claimed_by.clone().map(|u| (c.workspace.clone(), u)))
            .collect();
        let (ws, user) = if !claimed.is_empty() {
            rng.pick(&claimed).clone()
        } else {
            let keys: Vec<(String, String)> = w.model.members.keys().cloned().collect();
            rng.pick(&keys).clone()
        };
        // Never the last owner (the DBA could not remove them either).
        let owners = w
            .model
            .members_of(&ws)
            .iter()
            .filter(|(_, r)| *r == Role::Owner)
            .count();
        if w.model.role(&ws, &user) == Some(Role::Owner) && owners <= 1 {
            continue;
        }
        // Keep two owners-to-be per workspace.
        if w.model
            .members_of(&ws)
            .iter()
            .filter(|(u, _)| w.model.can_claim(&ws, u))
            .count()
            <= 2
        {
            continue;
        }
        owner
            .batch_execute(&format!(
                "SET search_path = {owner_search_path}; \
                 DELETE FROM support.workspace_members WHERE workspace_id OPERATOR(pg_catalog.=) '{ws}'::uuid \
                   AND user_id OPERATOR(pg_catalog.=) '{user}'::uuid; RESET search_path"
            ))
            .await
            .unwrap();
        w.model.remove_member(&ws, &user);
    }
}

// ---------------------------------------------------------------- truth

/// The database as the superuser sees it, checked against the model, with
/// each row's full text for exact comparisons.
struct Truth {
    conversation: BTreeMap<String, String>,
    message: BTreeMap<String, String>,
    /// Indexed like `model.events`.
    event: Vec<String>,
    workspace: BTreeMap<String, String>,
    member: BTreeMap<(String, String), String>,
    user: BTreeMap<String, String>,
    /// Every membership event: (workspace, full row text). Not modelled
    /// event by event: read paths check that each user sees exactly those of
    /// their workspaces.
    member_event: Vec<(String, String)>,
}

async fn verify_model(owner: &Client, model: &Model, report: &mut Report) -> Truth {
    let mut truth = Truth {
        conversation: BTreeMap::new(),
        message: BTreeMap::new(),
        event: vec![String::new(); model.events.len()],
        workspace: BTreeMap::new(),
        member: BTreeMap::new(),
        user: BTreeMap::new(),
        member_event: Vec::new(),
    };
    let mut mismatches = Vec::new();

    let rows = owner
        .query(
            "SELECT id::text, workspace_id::text, status, claimed_by::text, bot_user_id::text, channel, \
                    subject, reopen_count, c::text FROM support.conversations c",
            &[],
        )
        .await
        .unwrap();
    for r in &rows {
        let id: String = r.get(0);
        match model.conversations.get(&id).filter(|c| !c.deleted) {
            None => mismatches.push(format!("conversation {id} is not in the model")),
            Some(c) => {
                let db = (
                    r.get::<_, String>(1),
                    r.get::<_, String>(2),
                    r.get::<_, Option<String>>(3),
                    r.get::<_, Option<String>>(4),
                    r.get::<_, String>(5),
                    r.get::<_, String>(6),
                    r.get::<_, i32>(7),
                );
                let m = (
                    c.workspace.clone(),
                    c.status.to_string(),
                    c.claimed_by.clone(),
                    c.bot.clone(),
                    c.channel.to_string(),
                    c.subject.clone(),
                    c.reopen_count,
                );
                if db != m {
                    mismatches.push(format!("conversation {id}: db {db:?} model {m:?}"));
                }
            }
        }
        truth.conversation.insert(id, r.get(8));
    }
    if truth.conversation.len() != model.live_conversations().count() {
        mismatches.push(format!(
            "{} conversations in the database, {} in the model",
            truth.conversation.len(),
            model.live_conversations().count()
        ));
    }

    for r in owner
        .query(
            "SELECT id::text, workspace_id::text, conversation_id::text, role, author_id::text, content, m::text \
               FROM support.conversation_messages m",
            &[],
        )
        .await
        .unwrap()
    {
        let id: String = r.get(0);
        match model.messages.get(&id).filter(|m| !m.deleted) {
            None => mismatches.push(format!("message {id} is not in the model")),
            Some(m) => {
                let db = (
                    r.get::<_, String>(1),
                    r.get::<_, String>(2),
                    r.get::<_, String>(3),
                    r.get::<_, Option<String>>(4),
                    r.get::<_, String>(5),
                );
                let mm = (
                    m.workspace.clone(),
                    m.conversation.clone(),
                    m.role.to_string(),
                    m.author.clone(),
                    m.content.clone(),
                );
                if db != mm {
                    mismatches.push(format!("message {id}: db {db:?} model {mm:?}"));
                }
            }
        }
        truth.message.insert(id, r.get(6));
    }
    if truth.message.len() != model.messages.values().filter(|m| !m.deleted).count() {
        mismatches.push("message count differs".into());
    }

    // Events: per conversation, in the order they happened.
    let mut db_events: BTreeMap<String, Vec<(Event, String)>> = BTreeMap::new();
    for r in owner
        .query(
            "SELECT workspace_id::text, conversation_id::text, kind, from_status, to_status, from_owner::text, \
                    to_owner::text, actor_id::text, reason, e::text \
               FROM support.conversation_events e ORDER BY created_at, id",
            &[],
        )
        .await
        .unwrap()
    {
        let e = Event {
            workspace: r.get(0),
            conversation: r.get(1),
            kind: r.get(2),
            from_status: r.get(3),
            to_status: r.get(4),
            from_owner: r.get(5),
            to_owner: r.get(6),
            actor: r.get(7),
            reason: r.get(8),
        };
        db_events
            .entry(e.conversation.clone())
            .or_default()
            .push((e, r.get(9)));
    }
    let mut model_events: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, e) in model.events.iter().enumerate() {
        model_events
            .entry(e.conversation.clone())
            .or_default()
            .push(i);
    }
    let convs: BTreeSet<&String> = db_events.keys().chain(model_events.keys()).collect();
    for c in convs {
        let db = db_events.get(c).cloned().unwrap_or_default();
        let m = model_events.get(c).cloned().unwrap_or_default();
        if db.len() != m.len() || db.iter().zip(&m).any(|((e, _), &i)| *e != model.events[i]) {
            mismatches.push(format!(
                "events of {c}: db {:?} model {:?}",
                db.iter().map(|(e, _)| e).collect::<Vec<_>>(),
                m.iter().map(|&i| &model.events[i]).collect::<Vec<_>>()
            ));
            continue;
        }
        for ((_, text), &i) in db.iter().zip(&m) {
            truth.event[i] = text.clone();
        }
    }

    for r in owner
        .query(
            "SELECT id::text, name, w::text FROM support.workspaces w",
            &[],
        )
        .await
        .unwrap()
    {
        let id: String = r.get(0);
        if model.workspaces.get(&id) != Some(&r.get::<_, String>(1)) {
            mismatches.push(format!("workspace {id}"));
        }
        truth.workspace.insert(id, r.get(2));
    }
    for r in owner
        .query(
            "SELECT workspace_id::text, user_id::text, role, m::text FROM support.workspace_members m",
            &[],
        )
        .await
        .unwrap()
    {
        let key: (String, String) = (r.get(0), r.get(1));
        if model.members.get(&key).map(|r| r.as_str()) != Some(r.get::<_, &str>(2)) {
            mismatches.push(format!("membership {key:?}"));
        }
        truth.member.insert(key, r.get(3));
    }
    if truth.member.len() != model.members.len() {
        mismatches.push("membership count differs".into());
    }
    for r in owner
        .query("SELECT id::text, u::text FROM support.users u", &[])
        .await
        .unwrap()
    {
        truth.user.insert(r.get(0), r.get(1));
    }
    for r in owner
        .query(
            "SELECT workspace_id::text, e::text FROM support.member_events e",
            &[],
        )
        .await
        .unwrap()
    {
        truth.member_event.push((r.get(0), r.get(1)));
    }
    if truth.user.len() != model.users.len() {
        mismatches.push("user count differs".into());
    }
    report.case("model = database");
    assert!(
        mismatches.is_empty(),
        "the database disagrees with the reference model:\n{}",
        mismatches.join("\n")
    );
    truth
}

// ---------------------------------------------------------------- read paths

fn uuid_array(ids: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let inner: Vec<String> = ids.into_iter().map(|s| s.as_ref().to_string()).collect();
    format!("'{{{}}}'::uuid[]", inner.join(","))
}

struct Expected {
    conversations: Vec<String>,
    conversation_ids: Vec<String>,
    messages: Vec<String>,
    message_ids: Vec<String>,
    events: Vec<String>,
    workspaces: Vec<String>,
    workspace_ids: Vec<String>,
    members: Vec<String>,
    users: Vec<String>,
    per_workspace_counts: Vec<String>,
    queue: Vec<String>,
    pairs: Vec<String>,
    membership_flags: Vec<String>,
    /// workspace_role() of each probed workspace (the matrix column, or NULL).
    roles: Vec<String>,
    member_events: Vec<String>,
    me: Vec<String>,
}

fn expected_for(w: &World, truth: &Truth, identity: &Identity, probe_ws: &[String]) -> Expected {
    let m = &w.model;
    let u = identity.user();
    let conv_ids = m.visible_conversations(u);
    let msg_ids = m.visible_messages(u);
    let ws = m.workspaces_of(u);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for id in &conv_ids {
        *counts
            .entry(m.conversations[id].workspace.clone())
            .or_default() += 1;
    }
    Expected {
        conversations: conv_ids
            .iter()
            .map(|i| truth.conversation[i].clone())
            .collect(),
        conversation_ids: conv_ids.iter().cloned().collect(),
        messages: msg_ids.iter().map(|i| truth.message[i].clone()).collect(),
        message_ids: msg_ids.iter().cloned().collect(),
        events: m
            .visible_events(u)
            .iter()
            .map(|&i| truth.event[i].clone())
            .collect(),
        workspaces: ws.iter().map(|i| truth.workspace[i].clone()).collect(),
        workspace_ids: ws.iter().cloned().collect(),
        members: m
            .visible_memberships(u)
            .iter()
            .map(|k| truth.member[k].clone())
            .collect(),
        users: m
            .visible_users(u)
            .iter()
            .map(|i| truth.user[i].clone())
            .collect(),
        per_workspace_counts: counts.iter().map(|(w, n)| format!("{w}:{n}")).collect(),
        queue: conv_ids
            .iter()
            .filter(|i| m.conversations[*i].status == "escalated")
            .cloned()
            .collect(),
        pairs: msg_ids
            .iter()
            .map(|i| format!("{}/{}", m.messages[i].conversation, i))
            .collect(),
        membership_flags: probe_ws
            .iter()
            .map(|p| format!("{p}:{}", if ws.contains(p) { "t" } else { "f" }))
            .collect(),
        roles: probe_ws
            .iter()
            .map(|p| {
                let role = u.and_then(|u| m.subject(p, u)).unwrap_or("NULL");
                format!("{p}:{role}")
            })
            .collect(),
        member_events: truth
            .member_event
            .iter()
            .filter(|(w, _)| ws.contains(w))
            .map(|(_, t)| t.clone())
            .collect(),
        me: vec![u.map(str::to_string).unwrap_or_else(|| "NULL".into())],
    }
}

/// Every read path, for one identity. `hijack_safe` leaves out the queries
/// that themselves use operator names (= ANY) a planted operator would take.
#[allow(clippy::too_many_arguments)]
async fn read_paths(
    app: &Client,
    w: &World,
    truth: &Truth,
    identity: &Identity,
    report: &mut Report,
    prepared: &tokio_postgres::Statement,
    hijack_safe: bool,
    views: bool,
) {
    let mut probe_ws: Vec<String> = w.model.workspaces.keys().cloned().collect();
    probe_ws.push("00000000-0000-4000-8000-00000000dead".into());
    let e = expected_for(w, truth, identity, &probe_ws);
    let who = identity.label();
    let area = "read paths";
    let all_conv = uuid_array(&w.all_conversation_ids);
    let all_ws = uuid_array(w.model.workspaces.keys());

    let simple: Vec<(&str, String, &str, &Vec<String>)> = vec![
        (
            "conversations",
            "SELECT c::text FROM support.conversations c".into(),
            "",
            &e.conversations,
        ),
        (
            "messages",
            "SELECT m::text FROM support.conversation_messages m".into(),
            "",
            &e.messages,
        ),
        (
            "events",
            "SELECT e::text FROM support.conversation_events e".into(),
            "",
            &e.events,
        ),
        (
            "workspaces",
            "SELECT w::text FROM support.workspaces w".into(),
            "",
            &e.workspaces,
        ),
        (
            "workspace_members",
            "SELECT m::text FROM support.workspace_members m".into(),
            "",
            &e.members,
        ),
        (
            "users",
            "SELECT u::text FROM support.users u".into(),
            "",
            &e.users,
        ),
        (
            "member_workspaces()",
            "SELECT x::text FROM unnest(support.member_workspaces()) AS x".into(),
            "",
            &e.workspace_ids,
        ),
        (
            "current_user_id()",
            "SELECT support.current_user_id()::text".into(),
            "",
            &e.me,
        ),
        (
            "conversations, index scans only",
            "SELECT c::text FROM support.conversations c".into(),
            "SET LOCAL enable_seqscan = off;",
            &e.conversations,
        ),
        (
            "messages, index scans only",
            "SELECT m::text FROM support.conversation_messages m".into(),
            "SET LOCAL enable_seqscan = off;",
            &e.messages,
        ),
        (
            "conversations, forced parallel plan",
            "SELECT c::text FROM support.conversations c".into(),
            "SET LOCAL force_parallel_mode = on; SET LOCAL parallel_setup_cost = 0; \
             SET LOCAL parallel_tuple_cost = 0; SET LOCAL min_parallel_table_scan_size = 0;",
            &e.conversations,
        ),
        (
            "messages, forced parallel plan",
            "SELECT m::text FROM support.conversation_messages m".into(),
            "SET LOCAL force_parallel_mode = on; SET LOCAL parallel_setup_cost = 0; \
             SET LOCAL parallel_tuple_cost = 0; SET LOCAL min_parallel_table_scan_size = 0;",
            &e.messages,
        ),
        (
            "cursor over conversations",
            "FETCH ALL FROM cx_cursor".into(),
            "DECLARE cx_cursor CURSOR FOR SELECT c::text FROM support.conversations c;",
            &e.conversations,
        ),
    ];
    let operator_paths: Vec<(&str, String, &str, &Vec<String>)> = vec![
        (
            "conversations by every id",
            format!("SELECT c::text FROM support.conversations c WHERE c.id = ANY({all_conv})"),
            "",
            &e.conversations,
        ),
        (
            "messages by every conversation id",
            format!("SELECT m::text FROM support.conversation_messages m WHERE m.conversation_id = ANY({all_conv})"),
            "",
            &e.messages,
        ),
        (
            "events by every conversation id",
            format!("SELECT e::text FROM support.conversation_events e WHERE e.conversation_id = ANY({all_conv})"),
            "",
            &e.events,
        ),
        (
            "conversation counts per workspace",
            "SELECT c.workspace_id::text || ':' || count(*) FROM support.conversations c GROUP BY c.workspace_id".into(),
            "",
            &e.per_workspace_counts,
        ),
        (
            "agent queue of every workspace",
            format!(
                "SELECT c.id::text FROM support.conversations c WHERE c.workspace_id = ANY({all_ws}) \
                 AND c.status = 'escalated' ORDER BY c.escalated_at, c.id"
            ),
            "",
            &e.queue,
        ),
        (
            "conversations joined to messages",
            "SELECT c.id::text || '/' || m.id::text FROM support.conversations c \
             JOIN support.conversation_messages m ON m.conversation_id = c.id AND m.workspace_id = c.workspace_id".into(),
            "",
            &e.pairs,
        ),
        (
            "workspace_member() of every workspace",
            format!(
                "SELECT x::text || ':' || CASE WHEN support.workspace_member(x) THEN 't' ELSE 'f' END \
                 FROM unnest({}) AS x",
                uuid_array(&probe_ws)
            ),
            "",
            &e.membership_flags,
        ),
        (
            "workspace_role() of every workspace",
            format!(
                "SELECT x::text || ':' || coalesce(support.workspace_role(x), 'NULL') FROM unnest({}) AS x",
                uuid_array(&probe_ws)
            ),
            "",
            &e.roles,
        ),
        (
            "member_events",
            "SELECT e::text FROM support.member_events e".into(),
            "",
            &e.member_events,
        ),
        (
            "generic plan of a prepared statement",
            format!("EXECUTE cx_generic({all_conv})"),
            "SET LOCAL plan_cache_mode = force_generic_plan;",
            &e.conversation_ids,
        ),
        (
            "conversations after RESET ROLE (the login role)",
            "SELECT c::text FROM support.conversations c".into(),
            "SET LOCAL ROLE NONE;",
            &e.conversations,
        ),
    ];
    let view_paths: Vec<(&str, String, &str, &Vec<String>)> = vec![
        (
            "view owned by the app role",
            "SELECT v::text FROM public.v_conversations v".into(),
            "",
            &e.conversations,
        ),
        (
            "security_invoker view",
            "SELECT v::text FROM public.v_conversations_invoker v".into(),
            "",
            &e.conversations,
        ),
        (
            "security_barrier view",
            "SELECT v::text FROM public.v_conversations_barrier v".into(),
            "",
            &e.conversations,
        ),
        (
            "view of messages",
            "SELECT v::text FROM public.v_messages v".into(),
            "",
            &e.messages,
        ),
        (
            "view of events",
            "SELECT v::text FROM public.v_events v".into(),
            "",
            &e.events,
        ),
        (
            "view of users",
            "SELECT v::text FROM public.v_users v".into(),
            "",
            &e.users,
        ),
        (
            "view of memberships",
            "SELECT v::text FROM public.v_members v".into(),
            "",
            &e.members,
        ),
        (
            "view of workspaces",
            "SELECT v::text FROM public.v_workspaces v".into(),
            "",
            &e.workspaces,
        ),
        (
            "SECURITY DEFINER function of the app role",
            "SELECT f::text FROM public.definer_conversations() f".into(),
            "",
            &e.conversations,
        ),
        (
            "SECURITY DEFINER function of the app role, messages",
            "SELECT f::text FROM public.definer_messages() f".into(),
            "",
            &e.messages,
        ),
    ];
    let mut paths = simple;
    if !hijack_safe {
        paths.extend(operator_paths);
    }
    if views {
        paths.extend(view_paths);
    }
    for (name, sql, setup, expected) in paths {
        let got = rows_as(app, identity, setup, &sql).await;
        report.compare(area, &format!("{who}: {name}"), got, expected);
    }

    if !hijack_safe {
        // Extended protocol: one statement prepared once, run for every identity.
        begin(app, identity, "").await;
        let got = app
            .query(prepared, &[])
            .await
            .map(|rows| rows.iter().map(|r| r.get::<_, String>(0)).collect())
            .map_err(|e| e.to_string());
        app.batch_execute("ROLLBACK").await.unwrap();
        report.compare(
            area,
            &format!("{who}: statement prepared once, reused across identities"),
            got,
            &e.conversations,
        );
    }
    let got = copy_as(app, identity, "COPY support.conversations (id) TO STDOUT").await;
    report.compare(
        area,
        &format!("{who}: COPY conversations"),
        got,
        &e.conversation_ids,
    );
    let got = copy_as(
        app,
        identity,
        "COPY support.conversation_messages (id) TO STDOUT",
    )
    .await;
    report.compare(area, &format!("{who}: COPY messages"), got, &e.message_ids);
}

// ---------------------------------------------------------------- write paths

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Refusal {
    /// Must fail.
    Error,
    /// Must affect (or return) no row.
    NoRows,
}

/// A statement template over {CONV} {WS} {MSG} {USER}, run with another
/// workspace's ids, with ids that do not exist, and (positive control,
/// rolled back) with the user's own ids.
struct Template {
    label: &'static str,
    sql: String,
    refusal: Refusal,
    positive: bool,
}

#[derive(Clone, Debug)]
struct Binding {
    conv: String,
    ws: String,
    msg: String,
    user: String,
}

impl Binding {
    fn render(&self, sql: &str) -> String {
        sql.replace("{CONV}", &self.conv)
            .replace("{WS}", &self.ws)
            .replace("{MSG}", &self.msg)
            .replace("{USER}", &self.user)
    }
    fn placeholders(&self) -> Vec<(&str, &str)> {
        vec![
            (self.conv.as_str(), "{CONV}"),
            (self.ws.as_str(), "{WS}"),
            (self.msg.as_str(), "{MSG}"),
            (self.user.as_str(), "{USER}"),
        ]
    }
}

/// The user's own rows (for templates that need them and for the positive
/// controls).
struct Own {
    ws: String,
    conv: String,
    msg: Option<String>,
    /// A member of `ws` (may be the user).
    member: String,
    /// A conversation of `ws` the user has claimed, if any.
    claimed: Option<String>,
}

fn templates(me: &str, own: Option<&Own>) -> Vec<Template> {
    use Refusal::*;
    let t = |label, sql: String, refusal, positive| Template {
        label,
        sql,
        refusal,
        positive,
    };
    let mut v = vec![
        t("UPDATE another workspace's conversation", "UPDATE support.conversations SET subject = 'pwned' WHERE id = '{CONV}'".into(), NoRows, true),
        t("UPDATE another workspace's conversation (bot)", "UPDATE support.conversations SET bot_user_id = NULL WHERE id = '{CONV}'".into(), NoRows, true),
        t("UPDATE every conversation of another workspace", "UPDATE support.conversations SET channel = 'sms' WHERE workspace_id = '{WS}'".into(), NoRows, true),
        t("DELETE another workspace's conversation", "DELETE FROM support.conversations WHERE id = '{CONV}' RETURNING id".into(), NoRows, true),
        t("SELECT ... FOR UPDATE another workspace's conversation", "SELECT id FROM support.conversations WHERE id = '{CONV}' FOR UPDATE".into(), NoRows, true),
        t("message into another workspace's conversation (workspace from the parent)", format!("INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('{{CONV}}', 'customer', 'planted by {me}')"), Error, true),
        t("message into another workspace's conversation (with its workspace_id)", format!("INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, content) VALUES ('{{WS}}', '{{CONV}}', 'agent', 'planted by {me}')"), Error, true),
        t("escalate_conversation on another workspace's conversation", "SELECT support.escalate_conversation('{CONV}', 'planted')".into(), Error, false),
        t("claim_conversation on another workspace's conversation", "SELECT support.claim_conversation('{CONV}')".into(), Error, false),
        t("release_conversation on another workspace's conversation", "SELECT support.release_conversation('{CONV}')".into(), Error, false),
        t("transfer_conversation on another workspace's conversation", format!("SELECT support.transfer_conversation('{{CONV}}', '{me}')"), Error, false),
        t("resolve_conversation on another workspace's conversation", "SELECT support.resolve_conversation('{CONV}')".into(), Error, false),
        t("reopen_conversation on another workspace's conversation", "SELECT support.reopen_conversation('{CONV}')".into(), Error, false),
        t("claim_next_conversation in another workspace", "SELECT support.claim_next_conversation('{WS}')".into(), Error, false),
        t("INSERT a conversation into another workspace", format!("INSERT INTO support.conversations (workspace_id, subject) VALUES ('{{WS}}', 'planted by {me}')"), Error, true),
        t("INSERT an escalated conversation into another workspace", "INSERT INTO support.conversations (workspace_id, status, subject) VALUES ('{WS}', 'escalated', 'planted')".into(), Error, true),
        t("join another workspace (INSERT membership)", format!("INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES ('{{WS}}', '{me}', 'owner')"), Error, false),
        t("promote in another workspace (UPDATE memberships)", "UPDATE support.workspace_members SET role = 'owner' WHERE workspace_id = '{WS}'".into(), Error, false),
        t("rename another workspace", "UPDATE support.workspaces SET name = 'pwned' WHERE id = '{WS}'".into(), Error, false),
        t("DELETE another workspace", "DELETE FROM support.workspaces WHERE id = '{WS}'".into(), Error, false),
        t("forge an event in another workspace", "INSERT INTO support.conversation_events (workspace_id, conversation_id, kind) VALUES ('{WS}', '{CONV}', 'changed')".into(), Error, false),
        t("erase another workspace's events", "DELETE FROM support.conversation_events WHERE workspace_id = '{WS}'".into(), Error, false),
        t("rewrite another workspace's events", "UPDATE support.conversation_events SET reason = 'pwned' WHERE conversation_id = '{CONV}'".into(), Error, false),
        t("UPDATE another workspace's message", "UPDATE support.conversation_messages SET content = 'pwned' WHERE id = '{MSG}'".into(), NoRows, true),
        t("DELETE another workspace's message", "DELETE FROM support.conversation_messages WHERE id = '{MSG}' RETURNING id".into(), NoRows, true),
        t("rename another workspace's user", "UPDATE support.users SET display_name = 'pwned' WHERE id = '{USER}'".into(), Error, false),
    ];
    if let Some(o) = own {
        let (ows, oconv) = (&o.ws, &o.conv);
        v.extend([
            t("move another workspace's conversation into mine", format!("UPDATE support.conversations SET workspace_id = '{ows}' WHERE id = '{{CONV}}'"), NoRows, false),
            t("message into another workspace's conversation under my workspace_id", format!("INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, content) VALUES ('{ows}', '{{CONV}}', 'customer', 'planted')"), Error, false),
            t("move my conversation into another workspace", format!("UPDATE support.conversations SET workspace_id = '{{WS}}' WHERE id = '{oconv}'"), Error, false),
            t("my conversation with another workspace's user as bot (INSERT)", format!("INSERT INTO support.conversations (workspace_id, bot_user_id, subject) VALUES ('{ows}', '{{USER}}', 'x')"), Error, false),
            t("my conversation with another workspace's user as bot (UPDATE)", format!("UPDATE support.conversations SET bot_user_id = '{{USER}}' WHERE id = '{oconv}'"), Error, false),
            t("message in my conversation authored by another workspace's user", format!("INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) VALUES ('{oconv}', 'agent', '{{USER}}', 'x')"), Error, false),
            t("choose another workspace's conversation id for a new conversation", format!("INSERT INTO support.conversations (id, workspace_id, subject) VALUES ('{{CONV}}', '{ows}', 'x')"), Error, false),
            t("choose another workspace's message id for a new message", format!("INSERT INTO support.conversation_messages (id, conversation_id, role, content) VALUES ('{{MSG}}', '{oconv}', 'customer', 'x')"), Error, false),
        ]);
        if let Some(om) = &o.msg {
            v.push(t("re-parent my message into another workspace's conversation", format!("UPDATE support.conversation_messages SET conversation_id = '{{CONV}}' WHERE id = '{om}'"), Error, false));
        }
        if let Some(claimed) = &o.claimed {
            v.push(t(
                "transfer my conversation to another workspace's user",
                format!("SELECT support.transfer_conversation('{claimed}', '{{USER}}')"),
                Error,
                false,
            ));
        }
    }
    v
}

/// The matrix action a positive-control template performs on the user's own
/// rows (None: a read, allowed to every member).
fn positive_action(label: &str, own: &Own, me: &str, m: &Model) -> Option<&'static str> {
    Some(match label {
        "UPDATE another workspace's conversation" => "conversation.edit_subject",
        "UPDATE another workspace's conversation (bot)" => "conversation.edit_subject",
        "UPDATE every conversation of another workspace" => "conversation.edit_channel",
        "DELETE another workspace's conversation" => "conversation.delete",
        "message into another workspace's conversation (workspace from the parent)" => {
            "message.post_customer"
        }
        "message into another workspace's conversation (with its workspace_id)" => {
            "message.post_agent"
        }
        "INSERT a conversation into another workspace"
        | "INSERT an escalated conversation into another workspace" => "conversation.create",
        "UPDATE another workspace's message" => {
            let author = own
                .msg
                .as_ref()
                .and_then(|id| m.messages.get(id))
                .and_then(|x| x.author.clone());
            if author.as_deref() == Some(me) {
                "message.edit_own"
            } else {
                "message.edit_other"
            }
        }
        "DELETE another workspace's message" => "message.delete",
        _ => return None,
    })
}

/// Writes on the user's own workspaces, for every workspace the user is in:
/// each must be allowed or refused exactly as docs/permissions.tsv says for
/// the user's role there (viewers write nothing, only bots post customer
/// messages, only owners and admins delete, only the author edits). Always
/// rolled back.
async fn matrix_writes(app: &Client, w: &World, identity: &Identity, report: &mut Report) {
    let Some(me) = identity.user() else {
        return;
    };
    let m = &w.model;
    for ws in m.workspaces_of(Some(me)) {
        let Some(conv) = m.live_conversations().find(|c| c.workspace == ws) else {
            continue;
        };
        let cid = &conv.id;
        let mut probes: Vec<(&str, String)> = vec![
            ("conversation.create", format!("INSERT INTO support.conversations (workspace_id, subject) VALUES ('{ws}', 'matrix probe') RETURNING id")),
            ("conversation.edit_subject", format!("UPDATE support.conversations SET subject = 'matrix probe' WHERE id = '{cid}'")),
            ("conversation.edit_channel", format!("UPDATE support.conversations SET channel = 'voice' WHERE id = '{cid}'")),
            ("conversation.delete", format!("DELETE FROM support.conversations WHERE id = '{cid}'")),
        ];
        for role in MESSAGE_ROLES {
            probes.push((
                match role {
                    "customer" => "message.post_customer",
                    "bot" => "message.post_bot",
                    "agent" => "message.post_agent",
                    _ => "message.post_system",
                },
                format!("INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('{cid}', '{role}', 'matrix probe') RETURNING id"),
            ));
        }
        if let Some(other) = m
            .members_of(&ws)
            .into_iter()
            .map(|(u, _)| u)
            .find(|u| u != me)
        {
            probes.push(("message.post_as_other", format!("INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) VALUES ('{cid}', 'agent', '{other}', 'matrix probe') RETURNING id")));
        }
        if let Some(msg) = m.live_messages().find(|x| x.workspace == ws) {
            let edit = if msg.author.as_deref() == Some(me) {
                "message.edit_own"
            } else {
                "message.edit_other"
            };
            probes.push((edit, format!("UPDATE support.conversation_messages SET content = 'matrix probe' WHERE id = '{}'", msg.id)));
            probes.push((
                "message.delete",
                format!(
                    "DELETE FROM support.conversation_messages WHERE id = '{}'",
                    msg.id
                ),
            ));
        }
        for (action, sql) in probes {
            let verdict = m.verdict(&ws, me, action).unwrap();
            let o = try_as(app, identity, "", &sql).await;
            report.case("matrix writes");
            let label = format!(
                "{}: {action} in my workspace {ws} as {}",
                identity.label(),
                m.subject(&ws, me).unwrap()
            );
            if verdict == "00000" && !(o.state == "00000" && o.rows >= 1) {
                report.fail(format!(
                    "{label}: docs/permissions.tsv allows it, the server said {}",
                    o.describe()
                ));
            } else if verdict != "00000" && o.state != verdict {
                report.leak(format!(
                    "{label}: docs/permissions.tsv says {verdict}, the server said {}",
                    o.describe()
                ));
            }
        }
    }
}

/// Runs every template for one identity against a sample of other
/// workspaces' rows; returns the number of attempts.
#[allow(clippy::too_many_arguments)]
async fn write_paths(
    owner: &Client,
    app: &Client,
    w: &World,
    identity: &Identity,
    rng: &mut Rng,
    report: &mut Report,
    baseline: &str,
) {
    let m = &w.model;
    let me = identity
        .user()
        .unwrap_or("00000000-0000-4000-8000-000000000000");
    let mine = m.workspaces_of(identity.user());
    let foreign_convs: Vec<&Conversation> = m
        .live_conversations()
        .filter(|c| !mine.contains(&c.workspace))
        .collect();
    if foreign_convs.is_empty() {
        return;
    }
    // Two foreign conversations in different states, the states rotating
    // over the users so that every state is covered.
    let statuses = ["active", "escalated", "claimed", "resolved"];
    let first = rng.below(statuses.len());
    let mut sample: Vec<&Conversation> = Vec::new();
    for k in 0..statuses.len() {
        let status = statuses[(first + k) % statuses.len()];
        let of: Vec<&&Conversation> = foreign_convs
            .iter()
            .filter(|c| c.status == status)
            .collect();
        if !of.is_empty() && sample.len() < 2 {
            sample.push(of[rng.below(of.len())]);
        }
    }
    let own = mine.iter().find_map(|ws| {
        let conv = m.live_conversations().find(|c| &c.workspace == ws)?;
        Some(Own {
            ws: ws.clone(),
            conv: conv.id.clone(),
            msg: m
                .live_messages()
                .find(|x| x.conversation == conv.id)
                .map(|x| x.id.clone()),
            member: m.members_of(ws)[0].0.clone(),
            claimed: m
                .live_conversations()
                .find(|c| c.claimed_by.as_deref() == Some(me) && &c.workspace == ws)
                .map(|c| c.id.clone()),
        })
    });
    let tpls = templates(me, own.as_ref());
    for fc in sample {
        let fm = m
            .live_messages()
            .find(|x| x.workspace == fc.workspace)
            .map(|x| x.id.clone())
            .unwrap_or_else(|| rng.uuid());
        // A user of the foreign workspace who shares no workspace with me.
        let fu = m
            .members_of(&fc.workspace)
            .into_iter()
            .map(|(u, _)| u)
            .find(|u| m.workspaces_of(Some(u)).is_disjoint(&mine))
            .unwrap_or_else(|| rng.uuid());
        let foreign = Binding {
            conv: fc.id.clone(),
            ws: fc.workspace.clone(),
            msg: fm,
            user: fu,
        };
        for t in &tpls {
            let missing = Binding {
                conv: rng.uuid(),
                ws: rng.uuid(),
                msg: rng.uuid(),
                user: rng.uuid(),
            };
            let label = format!(
                "{}: {} [{} {}]",
                identity.label(),
                t.label,
                fc.status,
                fc.id
            );
            let f = attempt_as(app, identity, &foreign.render(&t.sql)).await;
            report.case("write paths");
            let refused = match t.refusal {
                Refusal::Error => f.is_error(),
                Refusal::NoRows => f.state == "00000" && f.rows == 0,
            };
            if !refused {
                report.leak(format!("{label}: not refused: {}", f.describe()));
            }
            if f.state == "XX000" || f.error.as_ref().is_some_and(|e| e.code == "connection") {
                report.fail(format!("{label}: {}", f.describe()));
            }
            report.case("database unchanged");
            let after = checksum(owner).await;
            if after != baseline {
                report.leak(format!("{label}: the database changed"));
                panic!("{label}: the database changed ({})", f.describe());
            }
            let c = attempt_as(app, identity, &missing.render(&t.sql)).await;
            report.case("foreign id = missing id");
            let fe = f
                .error
                .as_ref()
                .map(|e| e.normalized(&foreign.placeholders()));
            let ce = c
                .error
                .as_ref()
                .map(|e| e.normalized(&missing.placeholders()));
            if (f.state.as_str(), f.rows, &fe) != (c.state.as_str(), c.rows, &ce) {
                report.leak(format!(
                    "{label}: another workspace's id answers differently from a missing id:\n  foreign: {} {fe:?}\n  missing: {} {ce:?}",
                    f.describe(),
                    c.describe()
                ));
            }
            if t.positive {
                if let Some(o) = &own {
                    let mine_binding = Binding {
                        conv: o.conv.clone(),
                        ws: o.ws.clone(),
                        msg: o.msg.clone().unwrap_or_else(|| rng.uuid()),
                        user: o.member.clone(),
                    };
                    if t.sql.contains("{MSG}") && o.msg.is_none() {
                        continue;
                    }
                    let p = try_as(app, identity, "", &mine_binding.render(&t.sql)).await;
                    // On my own rows the matrix decides: a refusal it lists
                    // must be exactly that refusal.
                    let verdict = positive_action(t.label, o, me, m)
                        .and_then(|a| m.verdict(&o.ws, me, a))
                        .unwrap_or("00000");
                    if verdict != "00000" {
                        report.case("matrix refusals");
                        if p.state != verdict {
                            report.leak(format!(
                                "{label}: on my own row docs/permissions.tsv says {verdict}, the server said {}",
                                p.describe()
                            ));
                        }
                        continue;
                    }
                    report.case("positive controls");
                    let ok = match t.refusal {
                        Refusal::Error => p.state == "00000",
                        Refusal::NoRows => p.state == "00000" && p.rows >= 1,
                    };
                    if !ok {
                        report.fail(format!(
                            "{label}: positive control on my own row did not work: {}",
                            p.describe()
                        ));
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- attacks

/// Markers of everything `user` must not see (in other workspaces, or deleted).
fn hidden_markers(w: &World, user: Option<&str>) -> Vec<String> {
    let m = &w.model;
    let ws = m.workspaces_of(user);
    let visible_users = m.visible_users(user);
    let mut out = Vec::new();
    for c in m.conversations.values() {
        if c.deleted || !ws.contains(&c.workspace) {
            out.push(c.subject.clone());
        }
    }
    for x in m.messages.values() {
        if x.deleted || !ws.contains(&x.workspace) {
            out.push(x.content.clone());
        }
    }
    for e in &m.events {
        if !ws.contains(&e.workspace) {
            if let Some(r) = &e.reason {
                out.push(r.clone());
            }
        }
    }
    for (id, name) in &m.workspaces {
        if !ws.contains(id) && name.starts_with("wsname-") {
            out.push(name.clone());
        }
    }
    for u in m.users.values() {
        if !visible_users.contains(&u.id) && u.display_name.starts_with("username-") {
            out.push(u.display_name.clone());
        }
    }
    out
}

fn leaked_in<'a>(texts: &'a [String], hidden: &[String]) -> Vec<(&'a String, String)> {
    let mut out = Vec::new();
    for t in texts {
        for h in hidden {
            if t.contains(h.as_str()) {
                out.push((t, h.clone()));
            }
        }
    }
    out
}

/// Which of the user's own rows make an error-raising WHERE clause fail.
enum ErrorIff {
    Conversations,
    Messages,
    EventsWithReason,
    Workspaces,
    UsersWithName,
}

impl ErrorIff {
    fn has_rows(&self, w: &World, user: Option<&str>) -> bool {
        let m = &w.model;
        match self {
            ErrorIff::Conversations => !m.visible_conversations(user).is_empty(),
            ErrorIff::Messages => !m.visible_messages(user).is_empty(),
            ErrorIff::EventsWithReason => m
                .visible_events(user)
                .iter()
                .any(|&i| m.events[i].reason.is_some()),
            ErrorIff::Workspaces => !m.workspaces_of(user).is_empty(),
            ErrorIff::UsersWithName => m
                .visible_users(user)
                .iter()
                .any(|u| !m.users[u].display_name.is_empty()),
        }
    }
}

/// The attacker's tools for (c): functions that report every value they are
/// given (a NOTICE and a row in a table of their own), a leaky operator
/// with a selectivity estimator, and a table the role may read in full.
async fn create_leak_objects(app: &Client) {
    app.batch_execute(
        "CREATE TABLE public.leak_log (v text);
         GRANT ALL ON public.leak_log TO PUBLIC;
         CREATE FUNCTION public.leak(v text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
           $$ BEGIN RAISE NOTICE 'leak:%', v; INSERT INTO public.leak_log VALUES (v); RETURN true; END $$;
         CREATE FUNCTION public.leak_notice(v text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 PARALLEL SAFE AS
           $$ BEGIN RAISE NOTICE 'leak:%', v; RETURN true; END $$;
         CREATE FUNCTION public.leak_lt(a text, b text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS
           $$ BEGIN RAISE NOTICE 'leak:%', a; INSERT INTO public.leak_log VALUES (a); RETURN a OPERATOR(pg_catalog.<) b; END $$;
         CREATE OPERATOR public.<<< (LEFTARG = text, RIGHTARG = text, FUNCTION = public.leak_lt, RESTRICT = scalarltsel);
         CREATE TABLE public.leak_control (subject text);
         INSERT INTO public.leak_control SELECT 'control-' || g FROM generate_series(1, 40) g;
         ANALYZE public.leak_control;",
    )
    .await
    .unwrap();
}

/// (c) Non-LEAKPROOF functions, operators, casts and planner estimators in a
/// WHERE clause see only the rows the policies let through.
async fn leak_functions(
    owner: &Client,
    app: &Client,
    notices: &Notices,
    w: &World,
    report: &mut Report,
) {
    // The planner's statistics exist for the RLS tables (so an estimator
    // attack would have something to find).
    owner
        .batch_execute("ANALYZE support.conversations, support.conversation_messages, support.conversation_events, support.users, support.workspaces, support.workspace_members")
        .await
        .unwrap();
    let stats: i64 = owner
        .query_one(
            "SELECT count(*) FROM pg_stats WHERE schemaname = 'support' AND tablename = 'conversations' \
             AND attname = 'subject' AND (histogram_bounds IS NOT NULL OR most_common_vals IS NOT NULL)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stats, 1,
        "precondition: statistics on conversations.subject"
    );

    // Positive control of the estimator attack: on a table the role may read
    // in full, planning alone hands the statistics to the leaky operator.
    notices.clear();
    app.batch_execute("EXPLAIN SELECT * FROM public.leak_control WHERE subject <<< 'zzz'")
        .await
        .unwrap();
    let seen = notices.take();
    report.case("leaky functions");
    assert!(
        seen.iter().any(|n| n.contains("control-")),
        "positive control: the planner calls the leaky operator on statistics ({seen:?})"
    );
    owner
        .batch_execute("TRUNCATE public.leak_log")
        .await
        .unwrap();

    let all_conv = uuid_array(&w.all_conversation_ids);
    let all_ws = uuid_array(w.model.workspaces.keys());
    let parallel = "SET LOCAL force_parallel_mode = on; SET LOCAL parallel_setup_cost = 0; \
                    SET LOCAL parallel_tuple_cost = 0; SET LOCAL min_parallel_table_scan_size = 0;";
    let queries: Vec<(&str, String, &str)> = vec![
        ("leak(subject)", "SELECT count(*) FROM support.conversations c WHERE public.leak(c.subject)".into(), ""),
        ("leak(subject), index scans only", "SELECT count(*) FROM support.conversations c WHERE public.leak(c.subject)".into(), "SET LOCAL enable_seqscan = off;"),
        ("leak(subject) AND id = ANY(every id)", format!("SELECT count(*) FROM support.conversations c WHERE public.leak(c.subject) AND c.id = ANY({all_conv})"), ""),
        ("leak(subject) AND workspace_id = ANY(every workspace)", format!("SELECT count(*) FROM support.conversations c WHERE c.workspace_id = ANY({all_ws}) AND public.leak(c.subject)"), "SET LOCAL enable_seqscan = off;"),
        ("leak(subject) OR true", "SELECT count(*) FROM support.conversations c WHERE public.leak(c.subject) OR c.id IS NULL".into(), ""),
        ("leak in the select list", "SELECT public.leak(c.subject) FROM support.conversations c".into(), ""),
        ("leak in ORDER BY", "SELECT c.id FROM support.conversations c ORDER BY public.leak(c.subject)".into(), ""),
        ("leak over a materialized CTE", "WITH x AS MATERIALIZED (SELECT subject FROM support.conversations) SELECT count(*) FROM x WHERE public.leak(x.subject)".into(), ""),
        ("leak in a LATERAL", "SELECT count(*) FROM support.workspaces w, LATERAL (SELECT 1 FROM support.conversations c WHERE public.leak(c.subject || w.name)) l".into(), ""),
        ("leak(content)", "SELECT count(*) FROM support.conversation_messages m WHERE public.leak(m.content)".into(), ""),
        ("leak(reason)", "SELECT count(*) FROM support.conversation_events e WHERE public.leak(e.reason)".into(), ""),
        ("leak(workspace name)", "SELECT count(*) FROM support.workspaces x WHERE public.leak(x.name)".into(), ""),
        ("leak(display_name)", "SELECT count(*) FROM support.users x WHERE public.leak(x.display_name)".into(), ""),
        ("leak in a join", "SELECT count(*) FROM support.conversations c JOIN support.conversation_messages m ON m.conversation_id = c.id WHERE public.leak(c.subject || '|' || m.content)".into(), ""),
        ("leak in a join condition", "SELECT count(*) FROM support.conversations c JOIN support.conversation_messages m ON public.leak(c.subject || '|' || m.content)".into(), ""),
        ("parallel-safe leak under a forced parallel plan", "SELECT count(*) FROM support.conversations c WHERE public.leak_notice(c.subject)".into(), parallel),
        ("parallel-safe leak on messages under a forced parallel plan", "SELECT count(*) FROM support.conversation_messages m WHERE public.leak_notice(m.content)".into(), parallel),
        ("leaky operator", "SELECT count(*) FROM support.conversations c WHERE c.subject <<< 'zzz'".into(), ""),
        ("leaky operator in the planner's estimate (EXPLAIN)", "EXPLAIN SELECT * FROM support.conversations c WHERE c.subject <<< 'zzz'".into(), ""),
        ("leaky operator in the planner's estimate, messages", "EXPLAIN SELECT * FROM support.conversation_messages m WHERE m.content <<< 'zzz'".into(), ""),
        ("leaky operator in the planner's estimate, users", "EXPLAIN SELECT * FROM support.users x WHERE x.display_name <<< 'zzz'".into(), ""),
    ];
    // Errors raised by a WHERE clause: they must happen exactly when one of
    // the user's own rows triggers them (an error caused by a hidden row
    // would reveal that it exists, and its message may quote it).
    let error_queries: Vec<(&str, String, ErrorIff)> = vec![
        ("cast error on subject", "SELECT count(*) FROM support.conversations c WHERE c.subject::int = 1".into(), ErrorIff::Conversations),
        ("cast error on content", "SELECT count(*) FROM support.conversation_messages m WHERE m.content::numeric > 0".into(), ErrorIff::Messages),
        ("cast error on reason", "SELECT count(*) FROM support.conversation_events e WHERE e.reason::int = 1".into(), ErrorIff::EventsWithReason),
        ("cast error on workspace name", "SELECT count(*) FROM support.workspaces x WHERE x.name::int = 1".into(), ErrorIff::Workspaces),
        ("cast error on display_name", "SELECT count(*) FROM support.users x WHERE x.display_name::int = 1".into(), ErrorIff::UsersWithName),
        ("division by zero on a hidden value", "SELECT count(*) FROM support.conversations c WHERE 1 / (length(c.subject) - 28) = 0".into(), ErrorIff::Conversations),
        ("division by zero in a join", "SELECT count(*) FROM support.conversations c JOIN support.conversation_messages m ON m.conversation_id = c.id WHERE 1 / (length(m.content) - 28) = 0".into(), ErrorIff::Messages),
    ];
    let mut positive_done = false;
    for identity in w.identities() {
        let user = identity.user();
        let hidden = hidden_markers(w, user);
        let visible_subjects: BTreeSet<String> = w
            .model
            .visible_conversations(user)
            .iter()
            .map(|i| w.model.conversations[i].subject.clone())
            .collect();
        for (name, sql, setup) in &queries {
            notices.clear();
            // Committed, so that what leak() wrote to its log stays there.
            begin(app, &identity, setup).await;
            let o = outcome(app, sql).await;
            app.batch_execute("COMMIT").await.unwrap();
            let mut texts = notices.take();
            if let Some(e) = &o.error {
                texts.push(e.fields.join(" | "));
            }
            let logged: Vec<String> = owner
                .query("SELECT coalesce(v, '<NULL>') FROM public.leak_log", &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            owner
                .batch_execute("TRUNCATE public.leak_log")
                .await
                .unwrap();
            texts.extend(logged.clone());
            report.case("leaky functions");
            for (text, marker) in leaked_in(&texts, &hidden) {
                report.leak(format!(
                    "{}: {name}: hidden value {marker} reached the attacker: {}",
                    identity.label(),
                    preview(text)
                ));
            }
            // Positive control: the function does see the user's own rows.
            if *name == "leak(subject)" {
                report.case("positive controls");
                let seen: BTreeSet<String> = logged.iter().cloned().collect();
                if seen != visible_subjects {
                    report.fail(format!(
                        "{}: leak(subject) saw {} values, the user has {} visible subjects",
                        identity.label(),
                        seen.len(),
                        visible_subjects.len()
                    ));
                }
                positive_done |= !visible_subjects.is_empty();
            }
        }
        for (name, sql, iff) in &error_queries {
            let o = try_as(app, &identity, "", sql).await;
            let texts: Vec<String> = o.error.iter().map(|e| e.fields.join(" | ")).collect();
            report.case("leaky functions");
            for (text, marker) in leaked_in(&texts, &hidden) {
                report.leak(format!(
                    "{}: {name}: hidden value {marker} is quoted in the error: {}",
                    identity.label(),
                    preview(text)
                ));
            }
            let should_fail = iff.has_rows(w, user);
            if o.is_error() != should_fail {
                report.leak(format!(
                    "{}: {name}: {} although the user's own rows {} raise it (an error caused by hidden rows reveals them)",
                    identity.label(),
                    o.describe(),
                    if should_fail { "would" } else { "would not" }
                ));
            }
            if *name == "cast error on subject" && should_fail {
                report.case("positive controls");
                let named_own = texts
                    .iter()
                    .any(|t| visible_subjects.iter().any(|s| t.contains(s.as_str())));
                if o.state != "22P02" || !named_own {
                    report.fail(format!(
                        "{}: the cast error should quote one of the user's own subjects: {}",
                        identity.label(),
                        o.describe()
                    ));
                }
            }
        }
        // pg_stats hides the statistics of tables under row-level security.
        let o = rows_as(
            app,
            &identity,
            "",
            "SELECT tablename || '.' || attname FROM pg_stats WHERE schemaname = 'support'",
        )
        .await;
        report.compare(
            "leaky functions",
            &format!("{}: pg_stats of support tables", identity.label()),
            o,
            &[],
        );
    }
    assert!(
        positive_done,
        "positive control: some user saw their own rows through leak()"
    );
}

/// (d) Views, functions, rules, settings and DDL an application role could
/// try in order to get round the policies.
async fn escalation_attempts(
    owner: &Client,
    app: &Client,
    w: &World,
    identity: &Identity,
    report: &mut Report,
    baseline: &str,
    has_identity_mode: bool,
) {
    let some_conv = w.model.live_conversations().next().unwrap().id.clone();
    let mut attempts: Vec<(&str, String, &str)> = vec![
        ("disable row-level security", "ALTER TABLE support.conversations DISABLE ROW LEVEL SECURITY".into(), ""),
        ("NO FORCE row-level security", "ALTER TABLE support.conversations NO FORCE ROW LEVEL SECURITY".into(), ""),
        ("add a permissive policy", "CREATE POLICY cx_open ON support.conversations FOR SELECT USING (true)".into(), ""),
        ("drop a policy", "DROP POLICY conversations_select_member ON support.conversations".into(), ""),
        ("alter a policy", "ALTER POLICY conversations_select_member ON support.conversations USING (true)".into(), ""),
        ("a rule on a support table", "CREATE RULE cx_rule AS ON INSERT TO support.conversations DO INSTEAD NOTHING".into(), ""),
        ("disable the triggers", "ALTER TABLE support.conversations DISABLE TRIGGER ALL".into(), ""),
        ("an index evaluating a leaky function over every row", "CREATE INDEX cx_leak_idx ON support.conversations (public.leak(subject))".into(), ""),
        ("TRUNCATE", "TRUNCATE support.conversation_messages".into(), ""),
        ("take ownership", format!("ALTER TABLE support.conversations OWNER TO {APP_ROLE}"), ""),
        ("replace current_user_id()", "CREATE OR REPLACE FUNCTION support.current_user_id() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid'".into(), ""),
        ("plant a function in schema support", "CREATE FUNCTION support.cx_planted() RETURNS int LANGUAGE sql AS 'SELECT 1'".into(), ""),
        ("make member_workspaces() SECURITY INVOKER", "ALTER FUNCTION support.member_workspaces() SECURITY INVOKER".into(), ""),
        ("mark a leaky function LEAKPROOF", "ALTER FUNCTION public.leak(text) LEAKPROOF".into(), ""),
        ("session_replication_role = replica (skips triggers)", "SET LOCAL session_replication_role = replica".into(), ""),
        ("row_security = off", "SELECT count(*) FROM support.conversations".into(), "SET LOCAL row_security = off;"),
        ("row_security = off through set_config()", "SELECT count(*) FROM support.conversation_messages".into(), "SELECT set_config('row_security', 'off', true);"),
        ("SECURITY DEFINER function with row_security = off", "SELECT count(*) FROM public.definer_rls_off()".into(), ""),
        ("SET ROLE to the superuser", "SET LOCAL ROLE postgres".into(), ""),
        ("SET SESSION AUTHORIZATION to the superuser", "SET SESSION AUTHORIZATION postgres".into(), ""),
        ("read the lifecycle backend state", format!("SELECT support.lifecycle_pending('{some_conv}')"), ""),
        ("read the token keys", "SELECT count(*) FROM support.jwt_keys".into(), ""),
        ("write a token key", "INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('mine', 'HS256', 'secret')".into(), ""),
        ("ALTER EXTENSION", "ALTER EXTENSION conversations_ext UPDATE".into(), ""),
        ("DROP EXTENSION", "DROP EXTENSION conversations_ext CASCADE".into(), ""),
        ("grant_usage to itself", format!("SELECT support.grant_usage('{TENANT}')"), ""),
        ("read pg_statistic", "SELECT count(*) FROM pg_catalog.pg_statistic".into(), ""),
    ];
    if has_identity_mode {
        attempts.push((
            "switch identity_mode",
            "SET LOCAL support.identity_mode = 'claims'".into(),
            "",
        ));
    }
    let has_jwt_keys = owner
        .query_one("SELECT to_regclass('support.jwt_keys') IS NOT NULL", &[])
        .await
        .unwrap()
        .get::<_, bool>(0);
    for (label, sql, setup) in attempts {
        if label.contains("token key") && !has_jwt_keys {
            continue;
        }
        begin(app, identity, setup).await;
        let o = outcome(app, &sql).await;
        app.batch_execute("COMMIT").await.unwrap();
        report.case("privilege escalation");
        if !o.is_error() {
            report.leak(format!(
                "{}: {label} succeeded: {}",
                identity.label(),
                o.describe()
            ));
        } else if !["42501", "0A000", "42P01"].contains(&o.state.as_str()) {
            report.fail(format!(
                "{}: {label}: unexpected {}",
                identity.label(),
                o.describe()
            ));
        }
        report.case("database unchanged");
        assert_eq!(
            checksum(owner).await,
            baseline,
            "{label} changed the database"
        );
    }
}

/// (b) A lock held on another workspace's conversation is not observable:
/// a foreign caller never waits on it (no lock-timeout oracle), and answers
/// exactly as for a missing id; a member of that workspace does wait
/// (positive control).
async fn lock_oracle(app: &Client, w: &World, rng: &mut Rng, report: &mut Report) {
    let holder = common::connect(DB).await;
    let users = w.user_ids();
    let mut tried = 0;
    for u in users.iter() {
        let mine = w.model.workspaces_of(Some(u));
        let Some(fc) = w
            .model
            .live_conversations()
            .find(|c| !mine.contains(&c.workspace))
            .cloned()
        else {
            continue;
        };
        tried += 1;
        if tried > 6 {
            break;
        }
        holder
            .batch_execute(&format!(
                "BEGIN; SELECT 1 FROM support.conversations WHERE id = '{}' FOR UPDATE",
                fc.id
            ))
            .await
            .unwrap();
        let identity = Identity::Claims(u.clone());
        for tpl in [
            "SELECT support.escalate_conversation('{CONV}')",
            "SELECT support.claim_conversation('{CONV}')",
            "SELECT support.release_conversation('{CONV}')",
            "SELECT support.resolve_conversation('{CONV}')",
            "SELECT support.reopen_conversation('{CONV}')",
            "UPDATE support.conversations SET subject = 'x' WHERE id = '{CONV}'",
            "DELETE FROM support.conversations WHERE id = '{CONV}'",
            "SELECT 1 FROM support.conversations WHERE id = '{CONV}' FOR UPDATE",
        ] {
            let missing = rng.uuid();
            let started = Instant::now();
            let f = try_as(
                app,
                &identity,
                "SET LOCAL lock_timeout = '2s';",
                &tpl.replace("{CONV}", &fc.id),
            )
            .await;
            let waited = started.elapsed();
            let c = try_as(
                app,
                &identity,
                "SET LOCAL lock_timeout = '2s';",
                &tpl.replace("{CONV}", &missing),
            )
            .await;
            report.case("lock oracle");
            let fe = f
                .error
                .as_ref()
                .map(|e| e.normalized(&[(fc.id.as_str(), "{CONV}")]));
            let ce = c
                .error
                .as_ref()
                .map(|e| e.normalized(&[(missing.as_str(), "{CONV}")]));
            if f.state == "55P03"
                || waited > Duration::from_millis(1500)
                || (f.state.as_str(), f.rows, &fe) != (c.state.as_str(), c.rows, &ce)
            {
                report.leak(format!(
                    "{u}: {tpl} on a locked conversation of another workspace: {} after {waited:?} (missing id: {})",
                    f.describe(),
                    c.describe()
                ));
            }
        }
        // Positive control: a member of that workspace waits for the lock.
        if let Some((member, _)) = w.model.members_of(&fc.workspace).first().cloned() {
            let o = try_as(
                app,
                &Identity::Claims(member),
                "SET LOCAL lock_timeout = '100ms';",
                &format!(
                    "SELECT 1 FROM support.conversations WHERE id = '{}' FOR UPDATE",
                    fc.id
                ),
            )
            .await;
            report.case("positive controls");
            if o.state != "55P03" {
                report.fail(format!(
                    "positive control: a member should wait for the lock: {}",
                    o.describe()
                ));
            }
        }
        holder.batch_execute("ROLLBACK").await.unwrap();
    }
}

/// (a) Objects planted in public and pg_temp under the names the extension's
/// SECURITY DEFINER functions and triggers use.
async fn plant_hijack_objects(app: &Client, w: &World) -> Vec<String> {
    let foreign_user = w.model.users.keys().next().unwrap().clone();
    let every_ws = w
        .model
        .workspaces
        .keys()
        .cloned()
        .collect::<Vec<_>>()
        .join(",");
    app.batch_execute(
        "CREATE TABLE public.hijack_log (fn text, by_role text);
         GRANT ALL ON public.hijack_log TO PUBLIC;
         CREATE FUNCTION public.hijack_note(fn text) RETURNS void LANGUAGE plpgsql AS
           $$ BEGIN RAISE NOTICE 'HIJACKED %', fn; INSERT INTO public.hijack_log VALUES (fn, current_user); END $$;",
    )
    .await
    .unwrap();
    let mut planted = Vec::new();
    for schema in ["public", "pg_temp"] {
        let f = |name: &str, args: &str, ret: &str, value: &str| {
            format!(
                "CREATE FUNCTION {schema}.{name}({args}) RETURNS {ret} LANGUAGE plpgsql AS \
                 $$ BEGIN PERFORM public.hijack_note('{schema}.{name}'); RETURN {value}; END $$;"
            )
        };
        let sql = [
            f("now", "", "timestamptz", "'2001-01-01 00:00:00+00'"),
            f("clock_timestamp", "", "timestamptz", "'2001-01-01 00:00:00+00'"),
            f("statement_timestamp", "", "timestamptz", "'2001-01-01 00:00:00+00'"),
            f("current_setting", "text", "text", &format!("'{{\"sub\":\"{foreign_user}\"}}'")),
            f("current_setting", "text, boolean", "text", &format!("'{{\"sub\":\"{foreign_user}\"}}'")),
            f("set_config", "text, text, boolean", "text", "'off'"),
            f("row_security_active", "regclass", "boolean", "false"),
            f("row_security_active", "text", "boolean", "false"),
            f("gen_random_uuid", "", "uuid", &format!("'{PLANTED_UUID}'")),
            f("lifecycle_pending", "uuid", "text[]", "'{changed,hijacked}'"),
            f("current_user_id", "", "uuid", &format!("'{foreign_user}'")),
            f("member_workspaces", "", "uuid[]", &format!("'{{{every_ws}}}'")),
            f("workspace_member", "uuid", "boolean", "true"),
            f("uuid_eq", "uuid, uuid", "boolean", "true"),
            f("texteq", "text, text", "boolean", "true"),
            f("textne", "text, text", "boolean", "false"),
            f("timestamptz_le", "timestamptz, timestamptz", "boolean", "true"),
            f("int4pl", "integer, integer", "integer", "1000"),
            f("count", "", "bigint", "0"),
            format!("CREATE OPERATOR {schema}.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = {schema}.uuid_eq);"),
            format!("CREATE OPERATOR {schema}.= (LEFTARG = text, RIGHTARG = text, FUNCTION = {schema}.texteq);"),
            format!("CREATE OPERATOR {schema}.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = {schema}.textne);"),
            format!("CREATE OPERATOR {schema}.<= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = {schema}.timestamptz_le);"),
            format!("CREATE OPERATOR {schema}.+ (LEFTARG = integer, RIGHTARG = integer, FUNCTION = {schema}.int4pl);"),
        ]
        .join("\n");
        app.batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("planting in {schema}: {e}"));
        planted.push(format!("{schema}: now, clock_timestamp, statement_timestamp, current_setting x2, set_config, row_security_active x2, gen_random_uuid, lifecycle_pending, current_user_id, member_workspaces, workspace_member, count, operators = (uuid), = <> (text), <= (timestamptz), + (integer)"));
    }
    planted
}

// ---------------------------------------------------------------- the test

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_tenants_see_and_change_only_their_own_workspaces() {
    let started = Instant::now();
    let seed = seed_from_env("CX_SEED", DEFAULT_SEED);
    let scale = usize_from_env("CX_ADV_SCALE", 1).max(1);
    println!("adversarial: seed {seed:#x} (reproduce: CX_SEED={seed:#x} pg_test/run.sh --test adversarial), scale {scale}");
    let mut rng = Rng::new(seed);
    let target = Target::from_env();
    let owner = fresh_database(DB, &[]).await;
    ensure_role(&owner, TENANT, "LOGIN").await;
    owner
        .batch_execute(&format!(
            "GRANT {APP_ROLE} TO {TENANT}; GRANT CREATE ON SCHEMA public TO {APP_ROLE};"
        ))
        .await
        .unwrap();
    let (app, notices) = connect_as(&target, TENANT, DB, "cx-adversarial")
        .await
        .expect("connect as the tenant login role");
    app.batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .unwrap();
    let has_identity_mode = owner
        .query_one(
            "SELECT count(*) > 0 FROM pg_settings WHERE name = 'support.identity_mode'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, bool>(0);

    let mut report = Report::default();
    let mut w = World {
        model: Model::default(),
        ghost: rng.uuid(),
        all_conversation_ids: Vec::new(),
        op_cases: 0,
        phase: "set-up",
    };
    load_fixture(&owner, &mut w.model).await;
    generate_directory(&owner, &mut w, &mut rng, scale).await;
    generate_content(&app, &mut w, &mut rng, scale).await;
    lifecycle_phase(&app, &mut w, &mut rng, 300 * scale, &mut report).await;
    deletion_phase(&owner, &app, &mut w, &mut rng, "\"$user\", public").await;
    lifecycle_phase(&app, &mut w, &mut rng, 100 * scale, &mut report).await;
    let truth = verify_model(&owner, &w.model, &mut report).await;
    println!(
        "adversarial: {} workspaces, {} users, {} memberships, {} conversations ({} deleted), {} messages, {} events; \
         {} lifecycle calls matched the model",
        w.model.workspaces.len(),
        w.model.users.len(),
        w.model.members.len(),
        w.model.live_conversations().count(),
        w.model.conversations.values().filter(|c| c.deleted).count(),
        w.model.messages.values().filter(|m| !m.deleted).count(),
        w.model.events.len(),
        w.op_cases
    );

    // (d) Views and functions created by the application role, read by every user below.
    app.batch_execute(
        "CREATE VIEW public.v_conversations AS SELECT * FROM support.conversations;
         CREATE VIEW public.v_conversations_invoker WITH (security_invoker = true) AS SELECT * FROM support.conversations;
         CREATE VIEW public.v_conversations_barrier WITH (security_barrier = true) AS SELECT * FROM support.conversations;
         CREATE VIEW public.v_messages AS SELECT * FROM support.conversation_messages;
         CREATE VIEW public.v_events AS SELECT * FROM support.conversation_events;
         CREATE VIEW public.v_users AS SELECT * FROM support.users;
         CREATE VIEW public.v_members AS SELECT * FROM support.workspace_members;
         CREATE VIEW public.v_workspaces AS SELECT * FROM support.workspaces;
         CREATE FUNCTION public.definer_conversations() RETURNS SETOF support.conversations
           LANGUAGE sql SECURITY DEFINER AS 'SELECT * FROM support.conversations';
         CREATE FUNCTION public.definer_messages() RETURNS SETOF support.conversation_messages
           LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN RETURN QUERY SELECT * FROM support.conversation_messages; END $$;
         CREATE FUNCTION public.definer_rls_off() RETURNS SETOF support.conversations
           LANGUAGE plpgsql SECURITY DEFINER SET row_security = off
           AS $$ BEGIN RETURN QUERY SELECT * FROM support.conversations; END $$;",
    )
    .await
    .unwrap();
    create_leak_objects(&app).await;
    // Self-test: CX_ADV_INJECT=<sql> runs as the superuser here, e.g. a
    // permissive policy or an unpinned trigger, to show the suite catches it.
    if let Ok(inject) = std::env::var("CX_ADV_INJECT") {
        // Named injections; anything else is SQL.
        let inject = match inject.as_str() {
            // The trigger that refuses a viewer's new conversation is off:
            // the server lets viewers write while docs/permissions.tsv (the
            // model) says 42501; nothing any user reads changes.
            "viewer-may-write" => {
                "ALTER TABLE support.conversations DISABLE TRIGGER conversations_before_insert"
                    .to_string()
            }
            // Viewers become agents behind the model's back (also seen by
            // the read paths: the membership rows change).
            "viewers-are-agents" => {
                "UPDATE support.workspace_members SET role = 'agent' WHERE role = 'viewer'"
                    .to_string()
            }
            _ => inject,
        };
        println!("adversarial: injecting a weakness: {inject}");
        owner.batch_execute(&inject).await.unwrap();
    }
    app.batch_execute(
        "PREPARE cx_generic(uuid[]) AS SELECT c.id::text FROM support.conversations c WHERE c.id = ANY($1)",
    )
    .await
    .unwrap();
    let prepared = app
        .prepare("SELECT c::text FROM support.conversations c")
        .await
        .unwrap();

    // Every read path, for every identity.
    let identities = w.identities();
    for identity in &identities {
        read_paths(
            &app,
            &w,
            &truth,
            identity,
            &mut report,
            &prepared,
            false,
            true,
        )
        .await;
    }
    println!(
        "adversarial: read paths: {} identities, {} cases",
        identities.len(),
        report.by_area.get("read paths").copied().unwrap_or(0)
    );

    // Every cross-workspace write path, for every identity.
    let baseline = checksum(&owner).await;
    for identity in &identities {
        write_paths(&owner, &app, &w, identity, &mut rng, &mut report, &baseline).await;
    }
    println!(
        "adversarial: write paths: {} attempts, {} checksums, {} foreign/missing comparisons, {} positive controls",
        report.by_area.get("write paths").copied().unwrap_or(0),
        report.by_area.get("database unchanged").copied().unwrap_or(0),
        report.by_area.get("foreign id = missing id").copied().unwrap_or(0),
        report.by_area.get("positive controls").copied().unwrap_or(0),
    );

    // Writes on one's own workspaces, as docs/permissions.tsv says.
    for identity in &identities {
        matrix_writes(&app, &w, identity, &mut report).await;
    }
    assert_eq!(checksum(&owner).await, baseline);
    println!(
        "adversarial: matrix writes: {} writes on the users' own workspaces and {} refusals of positive controls as docs/permissions.tsv says",
        report.by_area.get("matrix writes").copied().unwrap_or(0),
        report.by_area.get("matrix refusals").copied().unwrap_or(0),
    );

    // (b) existence oracles through lock waits.
    lock_oracle(&app, &w, &mut rng, &mut report).await;
    assert_eq!(checksum(&owner).await, baseline);

    // (c) leaky functions, operators, casts, estimators.
    leak_functions(&owner, &app, &notices, &w, &mut report).await;
    assert_eq!(checksum(&owner).await, baseline);

    // (d) getting round the policies.
    for identity in identities.iter().step_by(3) {
        escalation_attempts(
            &owner,
            &app,
            &w,
            identity,
            &mut report,
            &baseline,
            has_identity_mode,
        )
        .await;
        read_paths(
            &app,
            &w,
            &truth,
            identity,
            &mut report,
            &prepared,
            false,
            true,
        )
        .await;
    }

    // (a) search_path hijack.
    let planted = plant_hijack_objects(&app, &w).await;
    let hijack_path = "SET search_path = pg_temp, public, pg_catalog, support";
    app.batch_execute(hijack_path).await.unwrap();
    // Positive control: the planted objects are live for names resolved
    // through this search_path.
    notices.clear();
    app.batch_execute(
        "SELECT now(); SELECT '00000000-0000-4000-8000-000000000001'::uuid = '00000000-0000-4000-8000-000000000002'::uuid; \
         SELECT pg_temp.now(); SELECT current_setting('row_security')",
    )
    .await
    .unwrap();
    let control = notices.take();
    report.case("search_path hijack");
    for expected in [
        "public.now",
        "public.uuid_eq",
        "pg_temp.now",
        "public.current_setting",
    ] {
        assert!(
            control.iter().any(|n| n.contains(expected)),
            "positive control: planted {expected} is called when a name resolves through the hijacked path: {control:?}"
        );
    }
    owner
        .batch_execute("TRUNCATE public.hijack_log")
        .await
        .unwrap();
    notices.clear();
    // Everything the extension runs, under the hijacked search_path: every
    // lifecycle function, inserts, updates and deletes (triggers), identity
    // and membership functions, and a DBA's foreign-key cascade.
    let before_events = w.model.events.len();
    w.phase = "under the hijacked search_path: a planted object may have been called";
    lifecycle_phase(&app, &mut w, &mut rng, 120 * scale, &mut report).await;
    generate_content(&app, &mut w, &mut rng, 1).await;
    deletion_phase(&owner, &app, &mut w, &mut rng, "public, pg_catalog").await;
    lifecycle_phase(&app, &mut w, &mut rng, 60 * scale, &mut report).await;
    let mut u_in = None;
    for c in w.model.live_conversations() {
        // A member the matrix lets edit the channel.
        if let Some(m) = w
            .model
            .members_of(&c.workspace)
            .into_iter()
            .find(|(u, _)| w.model.may(&c.workspace, u, "conversation.edit_channel"))
        {
            u_in = Some((m.0, c.id.clone()));
            break;
        }
    }
    if let Some((u, cid)) = u_in {
        let o = attempt_as(
            &app,
            &Identity::Claims(u.clone()),
            &format!(
                "UPDATE support.conversations SET channel = 'api' WHERE id OPERATOR(pg_catalog.=) '{cid}'::uuid"
            ),
        )
        .await;
        assert_eq!(o.describe(), "00000 (1 rows)");
        w.model.conversations.get_mut(&cid).unwrap().channel = "api";
        w.model.next_tick();
    }
    let hijack_notices: Vec<String> = notices
        .take()
        .into_iter()
        .filter(|n| n.contains("HIJACKED"))
        .collect();
    let hijack_log: Vec<String> = owner
        .query("SELECT fn || ' as ' || by_role FROM public.hijack_log", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    report.case("search_path hijack");
    if !hijack_notices.is_empty() || !hijack_log.is_empty() {
        report.leak(format!(
            "planted objects were called by the extension: notices {hijack_notices:?}, log {hijack_log:?}"
        ));
    }
    let bad_times: i64 = owner
        .query_one(
            "SELECT (SELECT count(*) FROM support.conversations WHERE created_at < '2002-01-01' OR updated_at < '2002-01-01' \
                     OR escalated_at < '2002-01-01' OR claimed_at < '2002-01-01' OR resolved_at < '2002-01-01' \
                     OR id = '00000000-0000-4000-8000-000000000bad') \
                  + (SELECT count(*) FROM support.conversation_events WHERE created_at < '2002-01-01' \
                     OR id = '00000000-0000-4000-8000-000000000bad' OR reason = 'hijacked' OR kind = 'changed') \
                  + (SELECT count(*) FROM support.conversation_messages WHERE created_at < '2002-01-01' \
                     OR id = '00000000-0000-4000-8000-000000000bad')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    report.case("search_path hijack");
    if bad_times != 0 {
        report.leak(format!(
            "{bad_times} rows carry a planted timestamp, id or event kind"
        ));
    }
    // The model still matches exactly (events, actors, kinds, queue order),
    // and every user still reads exactly their rows, under the hijacked path.
    let truth = verify_model(&owner, &w.model, &mut report).await;
    for identity in &identities {
        read_paths(
            &app,
            &w,
            &truth,
            identity,
            &mut report,
            &prepared,
            true,
            false,
        )
        .await;
    }
    let leftover: i64 = owner
        .query_one("SELECT count(*) FROM public.hijack_log", &[])
        .await
        .unwrap()
        .get(0);
    report.case("search_path hijack");
    if leftover != 0 {
        report.leak(format!("{leftover} planted calls during the final reads"));
    }
    println!(
        "adversarial: search_path hijack: planted {planted:?}; {} lifecycle calls, inserts, updates, deletes and a \
         cascade ran under `{hijack_path}`: 0 planted calls, {} new events all as the model says",
        w.op_cases,
        w.model.events.len() - before_events
    );

    println!("adversarial: cases by area: {:?}", report.by_area);
    println!(
        "adversarial: {} cases ran, {} leaked ({} other failures) in {:?}",
        report.cases,
        report.leaks.len(),
        report.failures.len(),
        started.elapsed()
    );
    assert!(report.leaks.is_empty(), "leaks: {:#?}", report.leaks);
    assert!(
        report.failures.is_empty(),
        "failures: {:#?}",
        report.failures
    );
}
