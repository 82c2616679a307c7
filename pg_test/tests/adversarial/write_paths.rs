//! Write paths: every cross-workspace write is refused (or affects 0 rows), leaves the database byte-for-byte unchanged, and answers for another workspace's id exactly as for an id that does not exist; on the user's own rows (positive controls) the matrix decides.

use pg_test::adversarial::citus::{self, comparable, Refusal as CitusRefusal};
use pg_test::adversarial::session::{attempt_as, try_as, Identity};
use pg_test::adversarial::{setup, Report, World};
use pg_test::checksum::checksum;
use pg_test::model::{Conversation, Model};
use pg_test::rng::Rng;
use tokio_postgres::Client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_workspace_writes_change_nothing_and_reveal_nothing() {
    let mut s = setup("write_paths").await;
    for identity in &s.identities {
        write_paths(
            &s.owner,
            &s.app,
            &s.w,
            identity,
            &mut s.rng,
            &mut s.report,
            &s.baseline,
        )
        .await;
    }
    let by = |area| s.report.by_area.get(area).copied().unwrap_or(0);
    println!(
        "adversarial write_paths: {} attempts, {} checksums, {} foreign/missing comparisons, {} positive controls, {} refusals of positive controls as docs/permissions.tsv says",
        by("write paths"),
        by("database unchanged"),
        by("foreign id = missing id"),
        by("positive controls"),
        by("matrix refusals"),
    );
    s.finish();
}

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
    // On Citus a message names its workspace (the shard key): where the
    // workspace of a new message is mine, it is named (else Citus refuses
    // the NULL shard key, 22004, before any policy runs).
    let on_citus = citus::enabled();
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
        t("join another workspace as staff", "SELECT support.join_as_staff('{WS}')".into(), Error, false),
        t("refuse staff in another workspace", "SELECT support.set_staff_access('{WS}', false)".into(), Error, false),
        t("allow staff in another workspace", "SELECT support.set_staff_access('{WS}', true)".into(), Error, false),
        t("make myself support staff", format!("INSERT INTO support.staff (user_id, role) VALUES ('{me}', 'admin')"), Error, false),
        t("serve another workspace as staff", format!("INSERT INTO support.staff_workspaces (workspace_id, user_id) VALUES ('{{WS}}', '{me}')"), Error, false),
        t("allow staff in another workspace by UPDATE", "UPDATE support.workspaces SET staff_access = true WHERE id = '{WS}'".into(), Error, false),
    ];
    if on_citus {
        // The FOR UPDATE Citus can distribute (an equality on workspace_id):
        // the attack and its positive control where the shape without it is
        // refused (0A000) for every id.
        v.push(t("SELECT ... FOR UPDATE another workspace's conversation (with its workspace_id)", "SELECT id FROM support.conversations WHERE workspace_id = '{WS}' AND id = '{CONV}' FOR UPDATE".into(), NoRows, true));
    }
    if let Some(o) = own {
        let (ows, oconv) = (&o.ws, &o.conv);
        let (ws_column, ws_value) = if on_citus {
            ("workspace_id, ", format!("'{ows}', "))
        } else {
            ("", String::new())
        };
        v.extend([
            t("move another workspace's conversation into mine", format!("UPDATE support.conversations SET workspace_id = '{ows}' WHERE id = '{{CONV}}'"), NoRows, false),
            t("message into another workspace's conversation under my workspace_id", format!("INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, content) VALUES ('{ows}', '{{CONV}}', 'customer', 'planted')"), Error, false),
            t("move my conversation into another workspace", format!("UPDATE support.conversations SET workspace_id = '{{WS}}' WHERE id = '{oconv}'"), Error, false),
            t("my conversation with another workspace's user as bot (INSERT)", format!("INSERT INTO support.conversations (workspace_id, bot_user_id, subject) VALUES ('{ows}', '{{USER}}', 'x')"), Error, false),
            t("my conversation with another workspace's user as bot (UPDATE)", format!("UPDATE support.conversations SET bot_user_id = '{{USER}}' WHERE id = '{oconv}'"), Error, false),
            t("message in my conversation authored by another workspace's user", format!("INSERT INTO support.conversation_messages ({ws_column}conversation_id, role, author_id, content) VALUES ({ws_value}'{oconv}', 'agent', '{{USER}}', 'x')"), Error, false),
            t("choose another workspace's conversation id for a new conversation", format!("INSERT INTO support.conversations (id, workspace_id, subject) VALUES ('{{CONV}}', '{ows}', 'x')"), Error, false),
            t("choose another workspace's message id for a new message", format!("INSERT INTO support.conversation_messages (id, {ws_column}conversation_id, role, content) VALUES ('{{MSG}}', {ws_value}'{oconv}', 'customer', 'x')"), Error, false),
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

/// The Citus refusals (0A000, the same for every id) accepted in Citus mode
/// where a template expects no rows: Citus cannot distribute the shape.
fn citus_refusals(label: &str) -> &'static [CitusRefusal] {
    match label {
        "SELECT ... FOR UPDATE another workspace's conversation" => &[CitusRefusal::ForUpdate],
        "move another workspace's conversation into mine" => &[CitusRefusal::ShardKeyUpdate],
        _ => &[],
    }
}

/// On Citus, the positive control of a template whose shape Citus cannot
/// run on the user's own rows either: the same statement naming the
/// workspace ({WS}, the user's own in the positive control).
fn citus_positive_sql(label: &str) -> Option<&'static str> {
    if !citus::enabled() {
        return None;
    }
    match label {
        "SELECT ... FOR UPDATE another workspace's conversation" => Some(
            "SELECT id FROM support.conversations WHERE workspace_id = '{WS}' AND id = '{CONV}' FOR UPDATE",
        ),
        "message into another workspace's conversation (workspace from the parent)" => Some(
            "INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, content) VALUES ('{WS}', '{CONV}', 'customer', 'positive control')",
        ),
        _ => None,
    }
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
            .find(|u| m.memberships_of(Some(u)).is_disjoint(&mine))
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
            // Citus mode: a refusal of a shape Citus cannot distribute, which
            // must also be the answer for a missing id (checked below).
            let citus_refusal = citus::refusal(&f, citus_refusals(t.label));
            let refused = match t.refusal {
                Refusal::Error => f.is_error(),
                Refusal::NoRows => f.state == "00000" && f.rows == 0,
            } || citus_refusal.is_some();
            // Refusals by Citus where any error is the expected refusal: not
            // a relaxation, but the policies were not what refused; counted.
            if citus::enabled() && f.state == "22004" {
                report.citus_note(&format!(
                    "22004 (NULL shard key: a message INSERT without workspace_id, refused by Citus before any policy): {}",
                    t.label
                ));
            } else if let (Refusal::Error, Some(r)) =
                (t.refusal, citus::refusal(&f, &CitusRefusal::ALL))
            {
                report.citus_note(&format!(
                    "{} (refused by Citus before any policy, as expected an error): {}",
                    r.label(),
                    t.label
                ));
            }
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
                .map(|e| comparable(e, &foreign.placeholders()));
            let ce = c
                .error
                .as_ref()
                .map(|e| comparable(e, &missing.placeholders()));
            let same = (f.state.as_str(), f.rows, &fe) == (c.state.as_str(), c.rows, &ce);
            if same && citus::enabled() {
                let raw = |o: &pg_test::outcome::Outcome, b: &Binding| {
                    o.error.as_ref().map(|e| e.normalized(&b.placeholders()))
                };
                if raw(&f, &foreign) != raw(&c, &missing) {
                    report.citus_note(
                        "foreign id = missing id once the shard suffix of relation names and the worker's host:port are left out",
                    );
                }
            }
            if same {
                if let Some(r) = citus_refusal {
                    let shape = match &own {
                        Some(o) => t.sql.replace(&o.ws, "{MY_WS}"),
                        None => t.sql.clone(),
                    };
                    report.citus_accept(r, &format!("write paths: {}: {shape}", t.label));
                }
            }
            if !same {
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
                    let sql = match citus_positive_sql(t.label) {
                        Some(pinned) => {
                            report.citus_note(&format!(
                                "positive control run naming the workspace (the shard key): {}",
                                t.label
                            ));
                            pinned
                        }
                        None => t.sql.as_str(),
                    };
                    let p = try_as(app, identity, "", &mine_binding.render(sql)).await;
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
