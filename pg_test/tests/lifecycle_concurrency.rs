//! The lifecycle under real concurrency: many connections at once, exact
//! outcomes, and the audit trail agreeing with the rows.

use pg_test::events::{replay, Rules};
use pg_test::prelude::*;
use pg_test::rng::Rng;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// One application-role connection per agent, with the agent's id: every
/// operation runs in a transaction of its own with a transaction-local
/// identity (a session-level one identifies nobody since 0.3.0).
async fn agent_connections(db: &str, ids: &[String]) -> Vec<(String, tokio_postgres::Client)> {
    let mut clients = Vec::new();
    for id in ids {
        clients.push((id.clone(), connect_app(db).await));
    }
    clients
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn thirty_two_sessions_claim_one_conversation() {
    let db = "cx_claim_32";
    let agents: Vec<String> = (1..=32).map(agent_id).collect();
    let owner = fresh_database(db, &agents).await;
    let id = escalated_conversations(&owner, 1).await.remove(0);
    let clients = agent_connections(db, &agents).await;
    let started = Instant::now();
    // Everyone opens a transaction as itself, waits on a barrier, then claims at once.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(clients.len()));
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(agent, c)| {
            let barrier = barrier.clone();
            let sql = format!("SELECT claimed_by::text FROM support.claim_conversation('{id}')");
            tokio::spawn(async move {
                c.batch_execute(&format!("BEGIN; {}", set_local_user(&agent)))
                    .await
                    .unwrap();
                barrier.wait().await;
                let r = c.query_one(&sql, &[]).await;
                let end = if r.is_ok() { "COMMIT" } else { "ROLLBACK" };
                c.batch_execute(end).await.unwrap();
                sqlstate(&r)
            })
        })
        .collect();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let mut winner_index = None;
    for (i, t) in tasks.into_iter().enumerate() {
        let state = t.await.unwrap();
        if state == "00000" {
            winner_index = Some(i);
        }
        *outcomes.entry(state).or_default() += 1;
    }
    println!(
        "32 concurrent claims of one conversation: {outcomes:?} in {:?}",
        started.elapsed()
    );
    assert_eq!(outcomes.get("00000"), Some(&1), "{outcomes:?}");
    assert_eq!(outcomes.get("55006"), Some(&31), "{outcomes:?}");
    let winner = &agents[winner_index.unwrap()];
    // The row and the events agree.
    let row = owner
        .query_one(
            &format!(
                "SELECT status, claimed_by::text FROM support.conversations WHERE id = '{id}'"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "claimed");
    assert_eq!(&row.get::<_, String>(1), winner);
    let events = owner
        .query(
            &format!(
                "SELECT to_owner::text, actor_id::text FROM support.conversation_events \
                  WHERE conversation_id = '{id}' AND kind = 'claimed'"
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(&events[0].get::<_, String>(0), winner);
    assert_eq!(&events[0].get::<_, String>(1), winner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn eight_agents_drain_a_queue_of_two_thousand() {
    let db = "cx_claim_next";
    let n = 2000;
    let agents: Vec<String> = (1..=8).map(agent_id).collect();
    let owner = fresh_database(db, &agents).await;
    let ids: HashSet<String> = escalated_conversations(&owner, n)
        .await
        .into_iter()
        .collect();
    let clients = agent_connections(db, &agents).await;
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|(agent, c)| {
            tokio::spawn(async move {
                let mut claimed = Vec::new();
                let sql = format!("SELECT id::text FROM support.claim_next_conversation('{W1}')");
                loop {
                    let row = as_user_one(&c, &agent, &sql)
                        .await
                        .unwrap_or_else(|e| panic!("claim_next failed: {e} ({:?})", e.code()));
                    match row.get::<_, Option<String>>(0) {
                        Some(id) => claimed.push(id),
                        None => break claimed,
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut per_agent = Vec::new();
    for t in tasks {
        let claimed = t.await.unwrap();
        per_agent.push(claimed.len());
        all.extend(claimed);
    }
    let elapsed = started.elapsed();
    let distinct: HashSet<String> = all.iter().cloned().collect();
    println!(
        "8 agents drained {n} conversations in {elapsed:?} ({:.0} claims/s); per agent {per_agent:?}",
        n as f64 / elapsed.as_secs_f64()
    );
    assert_eq!(all.len(), n, "every conversation claimed exactly once");
    assert_eq!(distinct, ids);
    let remaining: i64 = owner
        .query_one(&format!("SELECT count(*) FROM support.conversations WHERE workspace_id = '{W1}' AND status <> 'claimed'"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(remaining, 0, "queue ends empty");
    let claim_events: i64 = owner
        .query_one(
            "SELECT count(*) FROM support.conversation_events WHERE kind = 'claimed'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(claim_events, n as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn mixed_storm_keeps_every_invariant() {
    let db = "cx_storm";
    let sessions = 16;
    let ops_per_session = 250;
    let agents: Vec<String> = (1..=sessions).map(agent_id).collect();
    let owner = fresh_database(db, &agents).await;
    let ids = escalated_conversations(&owner, 40).await;
    let clients = agent_connections(db, &agents).await;
    let started = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, (agent, c))| {
            let ids = ids.clone();
            let agents = agents.clone();
            tokio::spawn(async move {
                let mut rng = Rng::from_state(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
                let mut outcomes: HashMap<String, usize> = HashMap::new();
                for _ in 0..ops_per_session {
                    let id = &ids[rng.below(ids.len())];
                    let sql = match rng.below(7) {
                        0 => format!("SELECT support.claim_conversation('{id}')"),
                        1 => format!("SELECT support.claim_next_conversation('{W1}')"),
                        2 => format!("SELECT support.release_conversation('{id}')"),
                        3 => format!(
                            "SELECT support.transfer_conversation('{id}', '{}')",
                            agents[rng.below(agents.len())]
                        ),
                        4 => format!("SELECT support.resolve_conversation('{id}')"),
                        5 => format!("SELECT support.reopen_conversation('{id}')"),
                        _ => format!("SELECT support.escalate_conversation('{id}', 'storm')"),
                    };
                    let r = as_user_batch(&c, &agent, &sql).await;
                    *outcomes.entry(sqlstate(&r)).or_default() += 1;
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *outcomes.entry(k).or_default() += v;
        }
    }
    println!(
        "storm: {} operations from {sessions} sessions in {:?}: {outcomes:?}",
        sessions * ops_per_session,
        started.elapsed()
    );
    // Only the documented refusals: success, wrong state, claimed by another, not the owner.
    let unexpected: Vec<_> = outcomes
        .keys()
        .filter(|k| !["00000", "55000", "55006", "42501"].contains(&k.as_str()))
        .collect();
    assert!(unexpected.is_empty(), "unexpected SQLSTATEs: {outcomes:?}");
    assert!(
        outcomes.get("00000").copied().unwrap_or(0) > 500,
        "the storm must change things: {outcomes:?}"
    );

    // claimed <=> owner not null.
    let broken: i64 = owner
        .query_one(
            "SELECT count(*) FROM support.conversations WHERE (status = 'claimed') <> (claimed_by IS NOT NULL)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(broken, 0);

    // The event log replays to the final state of every conversation (the
    // storm uses only the lifecycle functions: each event is its transition).
    let events = replay(&owner, None, Rules::Lifecycle)
        .await
        .unwrap_or_else(|e| panic!("replayed events must equal the rows: {e}"));
    println!(
        "storm: {events} events replay to the final state of all {} conversations",
        ids.len()
    );
}
