//! Crash recovery: kill -9 of one backend in the middle of a claim storm, in a cluster of its own; after the postmaster's crash recovery every lifecycle invariant holds, no acknowledged change is lost and no unacknowledged transaction is half there.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pg_test::cluster::{connect_as, crash_lines, OwnCluster, Target};
use pg_test::events::{replay, Rules};
use pg_test::fixture::{APP_ROLE, W1};
use pg_test::outcome::state_of_error as db_error_state;
use pg_test::rng::{seed_from_env, Rng};
use pg_test::roles::ensure_role;
use pg_test::session::{set_local_user, texts};
use tokio_postgres::Client;

const DEFAULT_SEED: u64 = 0x5eed_0000_0005_0005;
const KILL_DB: &str = "cx_kill9";

fn kill_agent(n: usize) -> String {
    format!("e0000000-0000-4000-8000-{n:012}")
}

/// What one storm session saw.
#[derive(Default, Debug)]
struct SessionLog {
    user: String,
    /// Acknowledged successful calls (the simple protocol acknowledges
    /// after the commit).
    successes: u64,
    /// Acknowledged calls that certainly wrote an event.
    definite: u64,
    by_state: HashMap<String, u64>,
    end: String,
}

/// What the victim saw: claims in committed transactions, and the claims of
/// the transaction it was in when it was killed.
#[derive(Default, Debug)]
struct VictimLog {
    committed: BTreeSet<String>,
    in_flight: BTreeSet<String>,
    commit_sent: bool,
    transactions: u64,
    end: String,
}

fn first_col(messages: &[tokio_postgres::SimpleQueryMessage]) -> Option<Option<String>> {
    messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
        _ => None,
    })
}

fn is_connection_loss(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(c) => {
            let c = c.code();
            c.starts_with("57P") || c.starts_with("08")
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn storm_session(
    target: Target,
    user: String,
    name: String,
    ids: Vec<String>,
    agents: Vec<String>,
    seed: u64,
    stop: Arc<AtomicBool>,
    max_ops: usize,
) -> SessionLog {
    let mut log = SessionLog {
        user: user.clone(),
        ..Default::default()
    };
    let (c, _) = connect_as(&target, "postgres", KILL_DB, &name)
        .await
        .unwrap();
    c.batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .unwrap();
    // Identity per transaction: each operation is one simple-protocol query
    // `SET LOCAL ...; SELECT ...`, which runs as one implicit transaction.
    let identity = set_local_user(&user);
    let mut rng = Rng::new(seed);
    for _ in 0..max_ops {
        if stop.load(Ordering::Relaxed) {
            log.end = "stopped".into();
            break;
        }
        let id = rng.pick(&ids).clone();
        let (kind, sql) = match rng.below(7) {
            0 => (
                "claim",
                format!("SELECT id FROM support.claim_conversation('{id}')"),
            ),
            1 => (
                "claim_next",
                format!("SELECT id FROM support.claim_next_conversation('{W1}')"),
            ),
            2 => (
                "release",
                format!("SELECT id FROM support.release_conversation('{id}')"),
            ),
            3 => (
                "transfer",
                format!(
                    "SELECT id FROM support.transfer_conversation('{id}', '{}')",
                    rng.pick(&agents)
                ),
            ),
            4 => (
                "resolve",
                format!("SELECT id FROM support.resolve_conversation('{id}')"),
            ),
            5 => (
                "reopen",
                format!("SELECT id FROM support.reopen_conversation('{id}')"),
            ),
            _ => (
                "escalate",
                format!("SELECT id FROM support.escalate_conversation('{id}', 'storm')"),
            ),
        };
        match c.simple_query(&format!("{identity}; {sql}")).await {
            Ok(m) => {
                log.successes += 1;
                *log.by_state.entry("00000".into()).or_default() += 1;
                let returned = first_col(&m).flatten();
                let definite = match kind {
                    "escalate" | "release" | "resolve" | "reopen" => true,
                    "claim_next" => returned.is_some(),
                    _ => false,
                };
                log.definite += u64::from(definite);
            }
            Err(e) if is_connection_loss(&e) => {
                log.end = format!("connection lost ({})", db_error_state(&e));
                break;
            }
            Err(e) => {
                *log.by_state.entry(db_error_state(&e)).or_default() += 1;
            }
        }
    }
    log
}

async fn victim_session(target: Target, user: String, stop: Arc<AtomicBool>) -> VictimLog {
    let mut log = VictimLog::default();
    let (c, _) = connect_as(&target, "postgres", KILL_DB, "cx-storm-victim")
        .await
        .unwrap();
    c.batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .unwrap();
    let begin = format!("BEGIN; {}", set_local_user(&user));
    'outer: while !stop.load(Ordering::Relaxed) {
        log.in_flight.clear();
        log.commit_sent = false;
        if let Err(e) = c.simple_query(&begin).await {
            log.end = format!("BEGIN: {}", db_error_state(&e));
            break;
        }
        for _ in 0..4 {
            match c
                .simple_query(&format!(
                    "SELECT id FROM support.claim_next_conversation('{W1}'); SELECT pg_sleep(0.004)"
                ))
                .await
            {
                Ok(m) => {
                    if let Some(Some(id)) = first_col(&m) {
                        log.in_flight.insert(id);
                    }
                }
                Err(e) => {
                    log.end = format!("mid-transaction: {}", db_error_state(&e));
                    break 'outer;
                }
            }
        }
        log.commit_sent = true;
        match c.simple_query("COMMIT").await {
            Ok(_) => {
                log.transactions += 1;
                log.committed.extend(std::mem::take(&mut log.in_flight));
            }
            Err(e) => {
                log.end = format!("COMMIT: {}", db_error_state(&e));
                break;
            }
        }
    }
    log
}

/// Every lifecycle invariant, checked on the recovered database. Returns
/// the number of events replayed.
async fn check_invariants(c: &Client, label: &str) -> usize {
    let broken: i64 = c
        .query_one(
            "SELECT count(*) FROM support.conversations WHERE (status = 'claimed') <> (claimed_by IS NOT NULL) \
                OR (status = 'claimed' AND claimed_at IS NULL) OR (status <> 'claimed' AND claimed_at IS NOT NULL) \
                OR (status = 'escalated' AND escalated_at IS NULL) \
                OR ((status = 'resolved') <> (resolved_at IS NOT NULL))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        broken, 0,
        "{label}: rows break the claimed/owner/timestamp invariants"
    );
    let events = replay(c, None, Rules::Lifecycle)
        .await
        .unwrap_or_else(|e| panic!("{label}: the event log does not replay to the rows: {e}"));
    // Indexes agree with the heap: the same answers through index scans only
    // and through sequential scans only.
    let queue = |plan: &'static str| async move {
        c.simple_query(&format!(
            "BEGIN; {plan} SELECT string_agg(id::text, ',' ORDER BY id) FROM support.conversations \
              WHERE status = 'escalated' AND workspace_id = '{W1}'; COMMIT"
        ))
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_string()),
            _ => None,
        })
        .collect::<Vec<String>>()
    };
    let by_index = queue("SET LOCAL enable_seqscan = off;").await;
    let by_heap = queue(
        "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off;",
    )
    .await;
    assert_eq!(
        by_index, by_heap,
        "{label}: the queue index disagrees with the table"
    );
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_in_a_claim_storm_keeps_every_invariant() {
    let started = Instant::now();
    let seed = seed_from_env("CX_SEED", DEFAULT_SEED);
    let cluster = OwnCluster::start("cx-kill9");
    let t = cluster.target.clone();
    let (admin, _) = connect_as(&t, "postgres", "postgres", "cx-kill9-admin")
        .await
        .unwrap();
    ensure_role(&admin, APP_ROLE, "NOLOGIN").await;
    admin
        .batch_execute(&format!("CREATE DATABASE {KILL_DB}"))
        .await
        .unwrap();
    let (owner, _) = connect_as(&t, "postgres", KILL_DB, "cx-kill9-owner")
        .await
        .unwrap();
    let sessions = 7usize;
    let agents: Vec<String> = (1..=sessions).map(kill_agent).collect();
    let victim = kill_agent(99);
    let mut setup = format!(
        "CREATE EXTENSION conversations_ext; SELECT support.grant_usage('{APP_ROLE}');
         INSERT INTO support.workspaces (id, name) VALUES ('{W1}', 'w1');
         INSERT INTO support.users (id) VALUES ('{victim}');
         INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES ('{W1}', '{victim}', 'agent');"
    );
    for a in &agents {
        setup.push_str(&format!(
            "INSERT INTO support.users (id) VALUES ('{a}');
             INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES ('{W1}', '{a}', 'agent');"
        ));
    }
    setup.push_str(&format!(
        "INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
         SELECT '{W1}', 'escalated', now() - make_interval(secs => 400 - g), 'storm ' || g FROM generate_series(1, 400) g;"
    ));
    owner.batch_execute(&setup).await.unwrap();
    let ids: Vec<String> = texts(&owner, "SELECT id::text FROM support.conversations").await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut storm = Vec::new();
    for (i, a) in agents.iter().enumerate() {
        storm.push(tokio::spawn(storm_session(
            t.clone(),
            a.clone(),
            format!("cx-storm-{i}"),
            ids.clone(),
            agents.clone(),
            seed ^ (i as u64 + 1),
            stop.clone(),
            1_000_000,
        )));
    }
    let victim_task = tokio::spawn(victim_session(t.clone(), victim.clone(), stop.clone()));

    // Let the storm run, then find the victim's backend in pg_stat_activity
    // while it is inside a transaction that has written, and kill -9 it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (pid, xid) = loop {
        let row = admin
            .query_opt(
                "SELECT pid, backend_xid::text FROM pg_stat_activity \
                  WHERE application_name = 'cx-storm-victim' AND backend_xid IS NOT NULL",
                &[],
            )
            .await
            .unwrap();
        if let Some(r) = row {
            break (r.get::<_, i32>(0), r.get::<_, String>(1));
        }
        assert!(
            Instant::now() < deadline,
            "the victim never had an open writing transaction"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let killed_at = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -9 {pid}");

    let victim_log = victim_task.await.unwrap();
    let mut logs = Vec::new();
    for s in storm {
        logs.push(s.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);

    // Recovery: the postmaster terminated every backend and replays WAL.
    let (c, recovery) = loop {
        if let Ok((c, _)) = connect_as(&t, "postgres", KILL_DB, "cx-kill9-check").await {
            if c.query_one("SELECT 1", &[]).await.is_ok() {
                break (c, killed_at.elapsed());
            }
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "the cluster did not recover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let total_ops: u64 = logs.iter().map(|l| l.by_state.values().sum::<u64>()).sum();
    let mut states: HashMap<String, u64> = HashMap::new();
    for l in &logs {
        for (k, v) in &l.by_state {
            *states.entry(k.clone()).or_default() += v;
        }
    }
    println!(
        "kill -9: storm of {total_ops} calls from {} sessions {states:?} and a victim session; killed backend {pid} of the victim \
         (transaction {xid} open, {} uncommitted claims, commit sent: {}) after {} committed transactions; \
         recovered in {recovery:?}",
        sessions,
        victim_log.in_flight.len(),
        victim_log.commit_sent,
        victim_log.transactions,
    );
    // Every storm session ended because its connection was terminated, and
    // only with documented refusals before that.
    for l in &logs {
        assert!(
            l.end.starts_with("connection lost"),
            "session {} ended: {}",
            l.user,
            l.end
        );
        for k in l.by_state.keys() {
            assert!(
                ["00000", "55000", "55006", "42501"].contains(&k.as_str()),
                "session {}: {k}",
                l.user
            );
        }
    }

    // The crash is in the log (positive control of the detector the fuzz
    // test relies on), and nothing worse.
    let log = std::fs::read_to_string(cluster.target.server_log()).unwrap_or_default();
    let crash = crash_lines(&log);
    assert!(
        crash
            .iter()
            .any(|l| l.contains(&format!("PID {pid}")) && l.contains("terminated by signal 9")),
        "the server log must show the killed backend: {crash:?}"
    );
    assert!(!log.contains("PANIC:"), "PANIC in the server log");

    // Invariants after recovery.
    let events = check_invariants(&c, "after recovery").await;
    // The victim: exactly its committed claims survive; the transaction it
    // was killed in left nothing (or, if its COMMIT was in flight, all of it).
    let owned: BTreeSet<String> = texts(
        &c,
        &format!("SELECT id::text FROM support.conversations WHERE claimed_by = '{victim}'"),
    )
    .await;
    let victim_events: BTreeSet<String> = texts(&c, &format!(
                "SELECT conversation_id::text FROM support.conversation_events WHERE actor_id = '{victim}' AND kind = 'claimed'"
            )).await;
    let all_victim_events: i64 = c
        .query_one(
            &format!(
                "SELECT count(*) FROM support.conversation_events WHERE actor_id = '{victim}'"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let with_in_flight: BTreeSet<String> = victim_log
        .committed
        .union(&victim_log.in_flight)
        .cloned()
        .collect();
    let ok = owned == victim_log.committed || (victim_log.commit_sent && owned == with_in_flight);
    assert!(
        ok,
        "victim: owns {} conversations, committed {} (+{} in flight, commit sent {}): a half-written or lost transaction",
        owned.len(),
        victim_log.committed.len(),
        victim_log.in_flight.len(),
        victim_log.commit_sent
    );
    assert_eq!(
        victim_events, owned,
        "victim: claimed events = claimed rows"
    );
    assert_eq!(
        all_victim_events as usize,
        owned.len(),
        "victim: no other event"
    );
    assert!(
        victim_log.commit_sent || victim_log.in_flight.is_disjoint(&owned),
        "victim: claims of the killed transaction survived"
    );
    // The storm sessions: every acknowledged change is there; at most the one
    // in flight at the crash is there unacknowledged.
    for l in &logs {
        let n: i64 = c
            .query_one(
                &format!(
                    "SELECT count(*) FROM support.conversation_events WHERE actor_id = '{}'",
                    l.user
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let n = n as u64;
        assert!(
            l.definite <= n && n <= l.successes + 1,
            "session {}: {n} events, {} acknowledged changes, {} acknowledged successes",
            l.user,
            l.definite,
            l.successes
        );
    }
    // amcheck, when the contrib module is installed: every B-tree index of
    // the support schema matches its table.
    let amcheck = c
        .batch_execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        .await
        .is_ok();
    let mut checked = 0;
    if amcheck {
        let rows = c
            .query(
                "SELECT i.indexrelid::regclass::text, bt_index_check(i.indexrelid, true)::text \
                   FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid \
                  WHERE x.relnamespace = 'support'::regnamespace \
                    AND x.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')",
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("amcheck: {e}"));
        checked = rows.len();
    }

    // The recovered cluster works: a second storm, then every invariant again.
    let stop2 = Arc::new(AtomicBool::new(false));
    let mut storm2 = Vec::new();
    for (i, a) in agents.iter().take(4).enumerate() {
        storm2.push(tokio::spawn(storm_session(
            t.clone(),
            a.clone(),
            format!("cx-storm2-{i}"),
            ids.clone(),
            agents.clone(),
            seed ^ 0xabc ^ i as u64,
            stop2.clone(),
            250,
        )));
    }
    let mut after = 0u64;
    for s in storm2 {
        let l = s.await.unwrap();
        for k in l.by_state.keys() {
            assert!(
                ["00000", "55000", "55006", "42501"].contains(&k.as_str()),
                "after recovery: {k}"
            );
        }
        after += l.successes;
    }
    assert!(after > 0, "the recovered cluster accepts lifecycle calls");
    let events_after = check_invariants(&c, "after a second storm").await;
    println!(
        "kill -9: after recovery {} conversations, {events} events chain and replay to the rows; victim kept exactly \
         its {} committed claims; amcheck {} ({checked} indexes); a second storm of 1000 calls ({after} succeeded) \
         left {events_after} events, all consistent; {:?} in all",
        ids.len(),
        victim_log.committed.len(),
        if amcheck { "passed" } else { "not installed" },
        started.elapsed()
    );
    drop(cluster);
}
