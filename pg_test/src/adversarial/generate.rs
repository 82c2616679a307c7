//! Generating the adversarial world: the directory (written by the DBA), content and lifecycle calls (by members, through the application role), deletions, each checked against the model.

use tokio_postgres::Client;

use super::session::{as_the_matrix_says, attempt_as, begin, run_op, Identity};
use super::{Report, World, CHANNELS, MESSAGE_ROLES};
use crate::model::{Conversation, Message, Model, Op, Role, User};
use crate::rng::{usize_from_env, Rng};

pub async fn load_fixture(owner: &Client, model: &mut Model) {
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

pub fn random_role(rng: &mut Rng) -> Role {
    match rng.below(20) {
        0..=1 => Role::Owner,
        2..=4 => Role::Admin,
        5..=14 => Role::Agent,
        _ => Role::Viewer,
    }
}

/// Workspaces, users and memberships, written by the DBA.
///
/// `CX_ADV_WIDE=<n>` (default 0): n more workspaces, each with the first two
/// joinable humans and the first bot as members, so that these three belong
/// to more than n workspaces (1000: users in over 1,000 workspaces; the whole
/// suite then takes minutes, not for `make test`). They are drawn after the
/// default world, which stays the same.
pub async fn generate_directory(owner: &Client, w: &mut World, rng: &mut Rng, scale: usize) {
    let wide = usize_from_env("CX_ADV_WIDE", 0);
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
    let at_least_two_owners = |w: &mut World, rng: &mut Rng, ws: &String| {
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
    };
    for ws in &all_ws {
        at_least_two_owners(w, rng, ws);
    }
    let everywhere: Vec<String> = joinable.iter().take(2).chain(&bots[..1]).cloned().collect();
    for i in 0..wide {
        let id = rng.uuid();
        let name = format!("wsname-{}-{}", n_ws + i, rng.hex(16));
        sql.push_str(&format!(
            "INSERT INTO support.workspaces (id, name) VALUES ('{id}', '{name}');\n"
        ));
        for u in &everywhere {
            let role = if bots.contains(u) {
                Role::Agent
            } else {
                random_role(rng)
            };
            w.model.members.insert((id.clone(), u.clone()), role);
        }
        w.model.workspaces.insert(id.clone(), name);
        at_least_two_owners(w, rng, &id);
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
    if wide > 0 {
        let mut widest: Vec<usize> = everywhere
            .iter()
            .map(|u| w.model.workspaces_of(Some(u)).len())
            .collect();
        widest.sort_unstable();
        println!(
            "adversarial: CX_ADV_WIDE={wide}: {wide} more workspaces; two humans and a bot belong to {widest:?} workspaces"
        );
    }
}

/// A member of `ws` (any role), if any.
pub fn random_member(model: &Model, rng: &mut Rng, ws: &str) -> Option<String> {
    let m = model.members_of(ws);
    (!m.is_empty()).then(|| m[rng.below(m.len())].0.clone())
}

/// A member of `ws` to attempt `action`: mostly one the matrix allows, else any.
pub fn deleter(model: &Model, rng: &mut Rng, ws: &str, action: &str) -> Option<String> {
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
pub async fn generate_content(app: &Client, w: &mut World, rng: &mut Rng, scale: usize) {
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
            // On Citus a message names its workspace (the shard key).
            let with_ws = rng.chance(50) || crate::citus::enabled();
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
pub async fn lifecycle_phase(
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
pub async fn deletion_phase(
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
