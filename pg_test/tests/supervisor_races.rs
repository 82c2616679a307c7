//! Issue 8: the defects of the permission matrix that only show under
//! concurrency or odd settings, on real connections:
//! - a supervisor's release racing the holder's resolve: exactly one wins,
//!   the other gets 55000, and the events replay to the row;
//! - a demotion to viewer racing the member's claim: nobody is left holding a
//!   conversation as a viewer (or a bot), every unassignment has its event;
//! - the claim-race message: a claim that waited on another transaction gets
//!   the truth (success, or 55006), never "is escalated: cannot claim it";
//! - row_security = off: every lifecycle call either writes its event or fails.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pg_test::cluster::connect;
use pg_test::events::{replay, Rules};
use pg_test::matrix::fixture::*;
use pg_test::session::texts;
use tokio::sync::Barrier;
use tokio_postgres::Client;

fn rounds(default: usize) -> usize {
    std::env::var("CX_RACE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The fixture without the claims it gives the viewer and the bot (which the
/// invariants below forbid): those conversations are resolved.
async fn race_fixture(db: &str) -> Client {
    let (c, _) = build(db).await;
    c.batch_execute(&format!(
        "UPDATE support.conversations SET status = 'resolved', claimed_by = NULL, claimed_at = NULL, resolved_at = now()
          WHERE claimed_by IN ('{V}', '{B}')"
    ))
    .await
    .unwrap();
    c
}

async fn new_escalated(c: &Client, subject: &str) -> String {
    c.query_one(
        &format!(
            "INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
             VALUES ('{W}', 'escalated', now(), '{subject}') RETURNING id::text"
        ),
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// SQLSTATE and message of a result ("00000" on success).
fn state_of<T>(r: &Result<T, tokio_postgres::Error>) -> (String, String) {
    match r {
        Ok(_) => ("00000".into(), String::new()),
        Err(e) => (
            e.code()
                .map(|c| c.code().to_string())
                .unwrap_or_else(|| "??".into()),
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string()),
        ),
    }
}

/// Opens a transaction as `user`, waits for `barrier`, runs `sql`, commits
/// (rolls back on error); returns the first column of the first row.
async fn as_user_at(
    c: &Client,
    user: &str,
    barrier: &Barrier,
    sql: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    c.batch_execute(&format!("BEGIN; {}", act_as(user)))
        .await
        .unwrap();
    barrier.wait().await;
    let r = c.query(sql, &[]).await;
    c.batch_execute(if r.is_ok() { "COMMIT" } else { "ROLLBACK" })
        .await
        .unwrap();
    r.map(|rows| rows.first().and_then(|row| row.get(0)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn supervisor_release_racing_the_holders_resolve() {
    let db = "cx_race_release_resolve";
    let su = race_fixture(db).await;
    let (admin, agent) = (connect(db).await, connect(db).await);
    let n = rounds(200);
    let started = Instant::now();
    let (mut release_won, mut resolve_won, mut events) = (0, 0, 0);
    for round in 0..n {
        let id = new_escalated(&su, &format!("race {round}")).await;
        su.batch_execute(&format!(
            "BEGIN; {} SELECT support.claim_conversation('{id}'); COMMIT;",
            act_as(G)
        ))
        .await
        .unwrap();
        let barrier = Arc::new(Barrier::new(2));
        let release = format!("SELECT x.status FROM support.release_conversation('{id}') x");
        let resolve = format!("SELECT x.status FROM support.resolve_conversation('{id}') x");
        let (r1, r2) = tokio::join!(
            as_user_at(&admin, A, &barrier, &release),
            as_user_at(&agent, G, &barrier, &resolve)
        );
        let (s1, s2) = (state_of(&r1), state_of(&r2));
        match (s1.0.as_str(), s2.0.as_str()) {
            ("00000", "55000") => release_won += 1,
            ("55000", "00000") => resolve_won += 1,
            _ => panic!("round {round}: release by the admin {s1:?}, resolve by the holder {s2:?}: exactly one must win, the other 55000"),
        }
        events += replay(&su, Some(&id), Rules::Chain)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    println!(
        "supervisor race: {n} rounds of release (admin) vs resolve (holder): release won {release_won}, \
         resolve won {resolve_won}, the loser got 55000 every time; {events} events replayed to their rows in {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn demotion_racing_the_members_claim() {
    let db = "cx_race_demotion";
    let su = race_fixture(db).await;
    let (admin, agent) = (connect(db).await, connect(db).await);
    let n = rounds(200);
    let started = Instant::now();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..n {
        su.batch_execute(&format!(
            "UPDATE support.conversations SET status = 'resolved', resolved_at = now()
              WHERE workspace_id = '{W}' AND status = 'escalated';
             UPDATE support.workspace_members SET role = 'agent' WHERE workspace_id = '{W}' AND user_id = '{G}';"
        ))
        .await
        .unwrap();
        let id = new_escalated(&su, &format!("demotion {round}")).await;
        let claim = if round % 2 == 0 {
            format!("SELECT x.id::text FROM support.claim_conversation('{id}') x")
        } else {
            format!("SELECT x.id::text FROM support.claim_next_conversation('{W}') x")
        };
        let demote =
            format!("SELECT x.role FROM support.set_member_role('{W}', '{G}', 'viewer') x");
        let barrier = Arc::new(Barrier::new(2));
        let (d, cl) = tokio::join!(
            as_user_at(&admin, A, &barrier, &demote),
            as_user_at(&agent, G, &barrier, &claim)
        );
        let (ds, cs) = (state_of(&d), state_of(&cl));
        assert_eq!(ds.0, "00000", "round {round}: the demotion failed: {ds:?}");
        assert!(
            ["00000", "42501"].contains(&cs.0.as_str()),
            "round {round}: the claim gave {cs:?}"
        );
        let label = match (&cs.0[..], cl.as_ref().ok().cloned().flatten()) {
            ("00000", Some(_)) => "claimed, then unassigned by the demotion",
            ("00000", None) => "claim_next found nothing",
            _ => "refused 42501 (already a viewer)",
        };
        *outcomes.entry(label.into()).or_default() += 1;
        let bad: i64 = su
            .query_one(
                "SELECT count(*) FROM support.conversations c
                   JOIN support.workspace_members m ON m.workspace_id = c.workspace_id AND m.user_id = c.claimed_by
                   JOIN support.users u ON u.id = c.claimed_by
                  WHERE m.role = 'viewer' OR u.kind = 'bot'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            bad, 0,
            "round {round}: a viewer or a bot holds a conversation"
        );
        let (status, claimed_by): (String, Option<String>) = {
            let r = su
                .query_one(
                    "SELECT status, claimed_by::text FROM support.conversations WHERE id = $1::text::uuid",
                    &[&id],
                )
                .await
                .unwrap();
            (r.get(0), r.get(1))
        };
        assert_eq!(
            (status.as_str(), claimed_by),
            ("escalated", None),
            "round {round}: {label}"
        );
        if cl.as_ref().ok().cloned().flatten().is_some() {
            let unassigned: i64 = su
                .query_one(
                    &format!(
                        "SELECT count(*) FROM support.conversation_events WHERE conversation_id = '{id}'
                           AND kind = 'unassigned' AND from_owner = '{G}' AND to_status = 'escalated'"
                    ),
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            assert_eq!(
                unassigned, 1,
                "round {round}: G's claim was undone without its unassigned event"
            );
        }
        replay(&su, Some(&id), Rules::Chain)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
    }
    // Every conversation of W still replays (including the fixture's).
    let all: Vec<String> = texts(&su, "SELECT id::text FROM support.conversations").await;
    for c in &all {
        replay(&su, Some(c), Rules::Chain).await.unwrap();
    }
    println!(
        "demotion race: {n} rounds of set_member_role(W, G, viewer) vs G's claim / claim_next: {outcomes:?}; \
         no viewer or bot ever held a conversation, every unassignment has its event, {} conversations replay, in {:?}",
        all.len(),
        started.elapsed()
    );
}

/// Waits until backend `pid` waits on a lock.
async fn wait_until_blocked(su: &Client, pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: Option<String> = su
            .query_one(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0);
        if waiting.as_deref() == Some("Lock") {
            return;
        }
        assert!(Instant::now() < deadline, "backend {pid} never blocked");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_claim_that_waited_gets_the_truth() {
    let db = "cx_race_claim_message";
    let su = race_fixture(db).await;
    let first = connect(db).await;
    let second = Arc::new(connect(db).await);
    let pid: i32 = second
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    // What the first agent's transaction does after its claim, while the
    // second agent's claim waits on it; and what the second must get.
    let variants: [(&str, &str, &[&str]); 4] = [
        ("release, commit", "SELECT support.release_conversation($id); COMMIT", &["00000", "55006"]),
        ("commit", "COMMIT", &["55006"]),
        ("roll back", "ROLLBACK", &["00000"]),
        (
            "release, claim again, commit",
            "SELECT support.release_conversation($id); SELECT support.claim_conversation($id); COMMIT",
            &["55006"],
        ),
    ];
    let n = rounds(200) / 5;
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    for round in 0..n {
        for (label, then, allowed) in &variants {
            let id = new_escalated(&su, &format!("message {round}")).await;
            first
                .batch_execute(&format!(
                    "BEGIN; {} SELECT support.claim_conversation('{id}');",
                    act_as(G)
                ))
                .await
                .unwrap();
            let waiter = {
                let second = second.clone();
                let sql =
                    format!("SELECT x.claimed_by::text FROM support.claim_conversation('{id}') x");
                tokio::spawn(async move {
                    second
                        .batch_execute(&format!("BEGIN; {}", act_as(G2)))
                        .await
                        .unwrap();
                    let r = second.query_one(&sql, &[]).await;
                    second
                        .batch_execute(if r.is_ok() { "COMMIT" } else { "ROLLBACK" })
                        .await
                        .unwrap();
                    state_of(&r)
                })
            };
            wait_until_blocked(&su, pid).await;
            first
                .batch_execute(&then.replace("$id", &format!("'{id}'")))
                .await
                .unwrap();
            let (state, message) = waiter.await.unwrap();
            assert!(
                allowed.contains(&state.as_str()),
                "round {round}, first agent: claim, {label}: the waiting claim got {state} ({message}), expected one of {allowed:?}"
            );
            assert!(!message.contains("cannot claim it"), "{label}: {message}");
            *seen.entry(format!("{label}: {state}")).or_default() += 1;
            replay(&su, Some(&id), Rules::Chain)
                .await
                .unwrap_or_else(|e| panic!("{label}: {e}"));
        }
    }
    println!(
        "claim-race message: {} waits, outcomes {seen:?}; never 55000",
        n * variants.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_security_off_never_changes_without_its_event() {
    let db = "cx_race_row_security";
    let (su, _) = build(db).await;
    let held = SUBJECTS[2].own_conversation; // the agent G holds it
    assert_eq!(SUBJECTS[2].id, G);
    let calls: [(&str, String, &str); 8] = [
        (
            "escalate",
            format!("support.escalate_conversation('{C_ACTIVE}', 'rs off')"),
            C_ACTIVE,
        ),
        (
            "claim",
            format!("support.claim_conversation('{C_ESCALATED}')"),
            C_ESCALATED,
        ),
        (
            "claim_next",
            format!("support.claim_next_conversation('{W}')"),
            C_ESCALATED,
        ),
        (
            "release",
            format!("support.release_conversation('{held}')"),
            held,
        ),
        (
            "transfer",
            format!("support.transfer_conversation('{held}', '{G2}')"),
            held,
        ),
        (
            "resolve",
            format!("support.resolve_conversation('{held}')"),
            held,
        ),
        (
            "resolve an active one",
            format!("support.resolve_conversation('{C_ACTIVE}')"),
            C_ACTIVE,
        ),
        (
            "reopen",
            format!("support.reopen_conversation('{C_RESOLVED}')"),
            C_RESOLVED,
        ),
    ];
    let expected_kind = |name: &str| match name {
        "escalate" => "escalated",
        "claim" | "claim_next" => "claimed",
        "release" => "released",
        "transfer" => "transferred",
        "reopen" => "reopened",
        _ => "resolved",
    };
    let state_sql = |conv: &str| {
        format!(
            "SELECT (SELECT status || ' ' || coalesce(claimed_by::text, '-') FROM support.conversations WHERE id = '{conv}'),
                    (SELECT count(*) FROM support.conversation_events WHERE conversation_id = '{conv}')::text"
        )
    };
    let mut report = Vec::new();
    for committed in [false, true] {
        for (name, call, conv) in &calls {
            su.batch_execute("BEGIN").await.unwrap();
            let before = su.query_one(&state_sql(conv), &[]).await.unwrap();
            let (row0, n0): (String, String) = (before.get(0), before.get(1));
            su.batch_execute(&format!(
                "{} SET LOCAL row_security = off; SAVEPOINT call;",
                act_as(G)
            ))
            .await
            .unwrap();
            let r = su
                .query(&format!("SELECT x.id FROM {call} AS x"), &[])
                .await;
            let (state, message) = state_of(&r);
            if r.is_err() {
                su.batch_execute("ROLLBACK TO SAVEPOINT call")
                    .await
                    .unwrap();
            }
            su.batch_execute("RESET ROLE").await.unwrap();
            if committed {
                su.batch_execute("COMMIT; BEGIN").await.unwrap();
            }
            let after = su.query_one(&state_sql(conv), &[]).await.unwrap();
            let (row1, n1): (String, String) = (after.get(0), after.get(1));
            let kind = expected_kind(name);
            let events: i64 = su
                .query_one(
                    &format!(
                        "SELECT count(*) FROM support.conversation_events WHERE conversation_id = '{conv}'
                           AND kind = '{kind}' AND actor_id = '{G}'"
                    ),
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            let changed = row0 != row1;
            let new_events = n1.parse::<i64>().unwrap() - n0.parse::<i64>().unwrap();
            assert!(
                !changed || (new_events == 1 && events >= 1),
                "{name} with row_security = off ({}): the row went {row0} -> {row1} with {new_events} new events ({events} {kind} by G)",
                if committed { "committed" } else { "in the transaction" }
            );
            assert!(
                changed || new_events == 0,
                "{name}: {new_events} events without a change"
            );
            replay(&su, Some(conv), Rules::Chain).await.unwrap();
            let short = |x: &str| x.replace(G2, "G2").replace(G, "G");
            report.push(if changed {
                format!(
                    "{name}: {} -> {} + {kind} event",
                    short(&row0),
                    short(&row1)
                )
            } else {
                format!("{name}: {state} {message}")
            });
            su.batch_execute("ROLLBACK").await.unwrap();
            if committed && changed {
                // Committed: put the fixture back for the next call.
                su.batch_execute(&format!(
                    "UPDATE support.conversations SET status = 'active', claimed_by = NULL, claimed_at = NULL, resolved_at = NULL,
                            escalated_at = NULL WHERE id = '{C_ACTIVE}';
                     UPDATE support.conversations SET status = 'escalated', claimed_by = NULL, claimed_at = NULL, resolved_at = NULL,
                            escalated_at = now() WHERE id = '{C_ESCALATED}';
                     UPDATE support.conversations SET status = 'claimed', claimed_by = '{G}', claimed_at = now(), resolved_at = NULL
                      WHERE id = '{held}';
                     UPDATE support.conversations SET status = 'resolved', claimed_by = NULL, claimed_at = NULL, resolved_at = now()
                      WHERE id = '{C_RESOLVED}';"
                ))
                .await
                .unwrap();
            }
        }
    }
    println!(
        "row_security = off: {} lifecycle calls as the agent G (in the transaction, then committed), each wrote its \
         event or failed: {report:?}",
        report.len()
    );
}
