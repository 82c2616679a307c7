//! Every read path (each table, each function, several plan shapes, COPY, cursors, prepared and generic plans, views and functions made by the application role) for one identity, compared with the model.

use std::collections::BTreeMap;

use tokio_postgres::{Client, Statement};

use super::citus::{self, Refusal};
use super::session::{begin, copy_as, rows_or_outcome, Identity};
use super::truth::Truth;
use super::{uuid_array, Report, World};

pub struct Expected {
    pub conversations: Vec<String>,
    pub conversation_ids: Vec<String>,
    pub messages: Vec<String>,
    pub message_ids: Vec<String>,
    pub events: Vec<String>,
    pub workspaces: Vec<String>,
    pub workspace_ids: Vec<String>,
    pub members: Vec<String>,
    pub users: Vec<String>,
    pub per_workspace_counts: Vec<String>,
    pub queue: Vec<String>,
    pub pairs: Vec<String>,
    pub membership_flags: Vec<String>,
    /// workspace_role() of each probed workspace (the matrix column, viewer
    /// for staff who have not joined, or NULL).
    pub roles: Vec<String>,
    pub member_events: Vec<String>,
    pub me: Vec<String>,
    /// The messages support.search_messages('content') finds: every visible
    /// message with the word (the generator writes "content-<hex>").
    pub search_hits: Vec<String>,
    /// support.unread_counts(): nobody marks anything read in this world, so
    /// per visible open conversation, the messages others wrote.
    pub unread: Vec<String>,
    /// support.queue_figures(): per visible workspace, its open conversations by status.
    pub queue_figures: Vec<String>,
}

pub fn expected_for(
    w: &World,
    truth: &Truth,
    identity: &Identity,
    probe_ws: &[String],
) -> Expected {
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
                let role = u.and_then(|u| m.workspace_role(p, u)).unwrap_or("NULL");
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
        search_hits: msg_ids
            .iter()
            .filter(|i| {
                m.messages[*i]
                    .content
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|word| word.eq_ignore_ascii_case("content"))
            })
            .cloned()
            .collect(),
        unread: {
            let mut unread: BTreeMap<&String, usize> = BTreeMap::new();
            for i in &msg_ids {
                let msg = &m.messages[i];
                let open = conv_ids.contains(&msg.conversation)
                    && m.conversations[&msg.conversation].status != "resolved";
                if open && msg.author.as_deref() != u {
                    *unread.entry(&msg.conversation).or_default() += 1;
                }
            }
            unread.iter().map(|(c, n)| format!("{c}:{n}")).collect()
        },
        queue_figures: ws
            .iter()
            .map(|w| {
                let of = |status: &str| {
                    conv_ids
                        .iter()
                        .filter(|i| {
                            m.conversations[*i].workspace == *w
                                && m.conversations[*i].status == status
                        })
                        .count()
                };
                format!("{w}:{}:{}:{}", of("active"), of("escalated"), of("claimed"))
            })
            .collect(),
    }
}

/// Every read path, for one identity. `hijack_safe` leaves out the queries
/// that themselves use operator names (= ANY) a planted operator would take.
#[allow(clippy::too_many_arguments)]
pub async fn read_paths(
    app: &Client,
    w: &World,
    truth: &Truth,
    identity: &Identity,
    report: &mut Report,
    prepared: &Statement,
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

    let mut simple: Vec<(&str, String, &str, &Vec<String>)> = vec![
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
            crate::cluster::force_parallel_settings(),
            &e.conversations,
        ),
        (
            "messages, forced parallel plan",
            "SELECT m::text FROM support.conversation_messages m".into(),
            crate::cluster::force_parallel_settings(),
            &e.messages,
        ),
        (
            "search_messages of a word every message has",
            "SELECT t.message_id::text FROM support.search_messages('content', 1000) t".into(),
            "",
            &e.search_hits,
        ),
        (
            "queue_figures",
            "SELECT t.workspace_id::text || ':' || t.active || ':' || t.escalated || ':' || t.claimed \
               FROM support.queue_figures() t"
                .into(),
            "",
            &e.queue_figures,
        ),
        (
            "cursor over conversations",
            "FETCH ALL FROM cx_cursor".into(),
            "DECLARE cx_cursor CURSOR FOR SELECT c::text FROM support.conversations c;",
            &e.conversations,
        ),
    ];
    // unread_counts() counts for somebody: nobody gets 28000 (tests/pg_regress/sql/api_reads.sql).
    if identity.user().is_some() {
        simple.push((
            "unread_counts",
            "SELECT t.conversation_id::text || ':' || t.unread FROM support.unread_counts() t"
                .into(),
            "",
            &e.unread,
        ));
    }
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
    // The inbox: the newest 1000 of every workspace read, all of them in a world this small.
    if e.conversations.len() <= 1000 {
        paths.push((
            "inbox(1000)",
            "SELECT c::text FROM support.inbox(1000) c".into(),
            "",
            &e.conversations,
        ));
    }
    if !hijack_safe {
        paths.extend(operator_paths);
    }
    if views {
        paths.extend(view_paths);
    }
    // On Citus, a generic plan of a statement over several shards is refused
    // (0A000) for every caller; the same plan pinned to one workspace (one
    // shard) must return exactly the model, workspace by workspace.
    if citus::enabled() && !hijack_safe {
        let each: Vec<String> = probe_ws
            .iter()
            .map(|ws| format!("EXECUTE cx_generic_ws('{ws}');"))
            .collect();
        paths.push((
            "generic plan of a prepared statement, pinned to each workspace (Citus)",
            each.join(" "),
            "SET LOCAL plan_cache_mode = force_generic_plan;",
            &e.conversation_ids,
        ));
    }
    for (name, sql, setup, expected) in paths {
        let got = rows_or_outcome(app, identity, setup, &sql).await;
        if name == "generic plan of a prepared statement" {
            if let Err(o) = &got {
                if let Some(r) = citus::refusal(o, &[Refusal::GenericPlan]) {
                    report.case(area);
                    report.citus_accept(
                        r,
                        "read path: EXECUTE cx_generic(every conversation id) (c.id = ANY($1)) under plan_cache_mode = force_generic_plan",
                    );
                    continue;
                }
            }
        }
        report.compare(
            area,
            &format!("{who}: {name}"),
            got.map_err(|o| o.describe()),
            expected,
        );
    }

    if !hijack_safe {
        // Extended protocol: one statement prepared once, run for every identity.
        begin(app, identity, "").await;
        let got = app
            .query(prepared, &[])
            .await
            .map(|rows| rows.iter().map(|r| r.get::<_, String>(0)).collect())
            .map_err(|e| super::session::error_text(&e));
        app.batch_execute("ROLLBACK").await.unwrap();
        report.compare(
            area,
            &format!("{who}: statement prepared once, reused across identities"),
            got,
            &e.conversations,
        );
    }
    for (name, sql, expected) in [
        (
            "COPY conversations",
            "COPY support.conversations (id) TO STDOUT",
            &e.conversation_ids,
        ),
        (
            "COPY messages",
            "COPY support.conversation_messages (id) TO STDOUT",
            &e.message_ids,
        ),
    ] {
        let got = copy_as(app, identity, sql).await;
        compare_copy(report, area, &format!("{who}: {name}"), sql, got, expected);
    }
    if citus::enabled() {
        // What the COPY of a distributed table above may not return on Citus,
        // a COPY of a query returns: exactly the model.
        for (name, sql, expected) in [
            (
                "COPY (SELECT ... FROM conversations) (Citus)",
                "COPY (SELECT c.id FROM support.conversations c) TO STDOUT",
                &e.conversation_ids,
            ),
            (
                "COPY (SELECT ... FROM conversation_messages) (Citus)",
                "COPY (SELECT m.id FROM support.conversation_messages m) TO STDOUT",
                &e.message_ids,
            ),
        ] {
            let got = copy_as(app, identity, sql).await;
            report.compare(area, &format!("{who}: {name}"), got, expected);
        }
    }
}

/// A COPY ... TO of a table compared with the model ([`Report::compare`]).
/// On Citus, a COPY of a distributed table that opens the transaction's
/// connections to the workers sends the shards' COPY outside the
/// transaction, without the identity the workers need: it returns fewer rows
/// than the model (fail-closed). A strict subset is that known limitation,
/// printed as one; a row beyond the model is still a leak.
fn compare_copy(
    report: &mut Report,
    area: &'static str,
    label: &str,
    sql: &str,
    got: Result<Vec<String>, String>,
    expected: &[String],
) {
    if citus::enabled() {
        if let Ok(rows) = &got {
            let want: std::collections::BTreeSet<&String> = expected.iter().collect();
            let seen: std::collections::BTreeSet<&String> = rows.iter().collect();
            if seen.len() == rows.len() && seen.is_subset(&want) && seen.len() < want.len() {
                report.case(area);
                report.citus_limitation(
                    "COPY of a distributed table TO STDOUT returns a strict subset of the model (the identity does not reach the shards' COPY)",
                    format!("{label}: `{sql}` returned {} of the {} rows of the model", rows.len(), want.len()),
                );
                return;
            }
        }
    }
    report.compare(area, label, got, expected);
}
