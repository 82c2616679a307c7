//! Leaky functions: non-LEAKPROOF functions, operators, casts and planner estimators in a query see only the rows the policies let through, and errors happen only for the user's own rows.

use std::collections::BTreeSet;

use pg_test::adversarial::citus;
use pg_test::adversarial::session::{begin, error_text, rows_as, try_as};
use pg_test::adversarial::{setup, uuid_array, Report, World};
use pg_test::checksum::checksum;
use pg_test::cluster::Notices;
use pg_test::outcome::{outcome, preview};
use tokio_postgres::Client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaky_functions_see_only_visible_rows() {
    let mut s = setup("leaky_functions").await;
    leak_functions(&s.owner, &s.app, &s.notices, &s.w, &mut s.report).await;
    assert_eq!(checksum(&s.owner).await, s.baseline);
    println!(
        "adversarial leaky_functions: {} probes",
        s.report
            .by_area
            .get("leaky functions")
            .copied()
            .unwrap_or(0)
    );
    s.finish();
}

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
    let analyze = "ANALYZE support.conversations, support.conversation_messages, support.conversation_events, support.users, support.workspaces, support.workspace_members";
    if citus::enabled() {
        // Citus: DDL after the distributed tables were touched in the same
        // transaction needs sequential mode (its documented remedy for XX000
        // "cannot execute DDL on table ... because there was a parallel DDL
        // access to distributed table ...").
        owner
            .batch_execute(&format!(
                "BEGIN; SET LOCAL citus.multi_shard_modify_mode TO 'sequential'; {analyze}; COMMIT"
            ))
            .await
            .unwrap_or_else(|e| panic!("{analyze}: {}", error_text(&e)));
    } else {
        owner.batch_execute(analyze).await.unwrap();
    }
    let stats_sql = "SELECT count(*) FROM pg_stats WHERE schemaname = 'support' AND tablename = 'conversations' \
             AND attname = 'subject' AND (histogram_bounds IS NOT NULL OR most_common_vals IS NOT NULL)";
    let stats: i64 = owner.query_one(stats_sql, &[]).await.unwrap().get(0);
    if citus::enabled() {
        // The rows, and so their statistics, are in the shards on the
        // workers (where the shards' queries are planned), not in the
        // coordinator's empty table: the shards of conversations have them.
        let on_workers = "SELECT count(*) FILTER (WHERE s.attname IS NOT NULL)::text || '/' || count(*)::text \
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = 'subject' \
                      AND (s.histogram_bounds IS NOT NULL OR s.most_common_vals IS NOT NULL) \
                WHERE n.nspname = 'support' AND c.relkind = 'r' AND c.relname ~ '^conversations_[0-9]+$'";
        let per_worker = citus::on_workers(owner, on_workers).await;
        let (mut with_stats, mut shards) = (0, 0);
        for r in &per_worker {
            let (a, b) = r.split_once('/').unwrap_or_else(|| panic!("{r}"));
            with_stats += a.parse::<i64>().unwrap();
            shards += b.parse::<i64>().unwrap();
        }
        assert!(
            shards == i64::from(pg_test::citus::shard_count()) && with_stats >= 1,
            "precondition: statistics on conversations.subject in the shards ({per_worker:?}: with statistics/shards per worker)"
        );
        report.citus_note(&format!(
            "statistics of conversations.subject found in {with_stats} of {shards} shards on the workers, not on the coordinator ({stats} there)"
        ));
    } else {
        assert_eq!(
            stats, 1,
            "precondition: statistics on conversations.subject"
        );
    }

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
    let leak_log = citus::LeakLog::connect(owner).await;
    leak_log.take(owner).await;

    let all_conv = uuid_array(&w.all_conversation_ids);
    let all_ws = uuid_array(w.model.workspaces.keys());
    let parallel = pg_test::cluster::force_parallel_settings();
    // On Citus two distributed tables join on their shard key (else Citus
    // refuses the join: XX000 "requires repartitioning", 0A000 "complex
    // joins"), for every caller, and the probe would prove nothing.
    let same_ws = if citus::enabled() {
        " AND m.workspace_id = c.workspace_id"
    } else {
        ""
    };
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
        ("leak in a join", format!("SELECT count(*) FROM support.conversations c JOIN support.conversation_messages m ON m.conversation_id = c.id{same_ws} WHERE public.leak(c.subject || '|' || m.content)"), ""),
        ("leak in a join condition", format!("SELECT count(*) FROM support.conversations c JOIN support.conversation_messages m ON public.leak(c.subject || '|' || m.content){same_ws}"), ""),
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
        ("division by zero in a join", format!("SELECT count(*) FROM support.conversations c JOIN support.conversation_messages m ON m.conversation_id = c.id{same_ws} WHERE 1 / (length(m.content) - 28) = 0"), ErrorIff::Messages),
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
            let logged: Vec<String> = leak_log.take(owner).await;
            texts.extend(logged.clone());
            report.case("leaky functions");
            if citus::enabled() && o.is_error() {
                // A probe Citus refuses to run would prove nothing.
                report.fail(format!(
                    "{}: {name}: {} (on Citus)",
                    identity.label(),
                    o.describe()
                ));
            }
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
            if citus::enabled() && !["00000", "22P02", "22012"].contains(&o.state.as_str()) {
                // Not the error the user's own rows raise: a refusal of Citus
                // would pass for one and prove nothing.
                report.fail(format!(
                    "{}: {name}: {} (on Citus)",
                    identity.label(),
                    o.describe()
                ));
            }
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
