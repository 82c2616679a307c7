//! Conversation numbers under real concurrency (docs/api.md, "Conversation
//! numbers"): 16 sessions each insert 500 conversations into one workspace,
//! each insert a transaction of its own that commits or, at random (seeded),
//! rolls back. The committed conversations must hold exactly the numbers
//! 1..N, N the number of commits: no gap, no duplicate, each session's own
//! commits in the order it made them; the counter ends at N. A second
//! workspace, written at the same time by one more session, is numbered on
//! its own (1..M).

use pg_test::prelude::*;
use pg_test::rng::Rng;
use std::collections::BTreeSet;
use std::time::Instant;

const SESSIONS: usize = 16;
const INSERTS: usize = 500;
const ROLLBACK_PERCENT: u64 = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn sixteen_sessions_get_gapless_numbers() {
    let db = "cx_numbers";
    let agents: Vec<String> = (1..=SESSIONS).map(agent_id).collect();
    let owner = fresh_database(db, &agents).await;
    let seed = pg_test::rng::seed_from_env("CX_SEED", 20261130);
    let started = Instant::now();
    // (workspace, user, session index) per writer: 16 in W1, one in W2.
    let mut writers: Vec<(&str, String, usize)> = agents
        .iter()
        .enumerate()
        .map(|(i, a)| (W1, a.clone(), i))
        .collect();
    writers.push((W2, U2.to_string(), SESSIONS));
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|(ws, user, i)| {
            tokio::spawn(async move {
                let c = connect_app(db).await;
                let mut rng = Rng::new(seed ^ (i as u64 + 1));
                let mut committed = Vec::new();
                let mut rolled_back = 0;
                for n in 0..INSERTS {
                    c.batch_execute(&format!("BEGIN; {}", set_local_user(&user)))
                        .await
                        .unwrap();
                    let number: i64 = c
                        .query_one(
                            &format!(
                                "INSERT INTO support.conversations (workspace_id, subject) \
                                 VALUES ('{ws}', 's{i} n{n}') RETURNING number"
                            ),
                            &[],
                        )
                        .await
                        .unwrap_or_else(|e| panic!("session {i} insert {n}: {e}"))
                        .get(0);
                    if rng.chance(ROLLBACK_PERCENT) {
                        c.batch_execute("ROLLBACK").await.unwrap();
                        rolled_back += 1;
                    } else {
                        c.batch_execute("COMMIT").await.unwrap();
                        committed.push(number);
                    }
                }
                (ws, i, committed, rolled_back)
            })
        })
        .collect();
    let mut w1_numbers = Vec::new();
    let mut w2_numbers = Vec::new();
    let mut rolled_back = 0;
    for t in tasks {
        let (ws, i, committed, rb) = t.await.unwrap();
        assert!(
            committed.windows(2).all(|w| w[0] < w[1]),
            "session {i}: its own commits are numbered in the order it made them"
        );
        rolled_back += rb;
        if ws == W1 {
            w1_numbers.extend(committed);
        } else {
            w2_numbers.extend(committed);
        }
    }
    let elapsed = started.elapsed();
    // Control: the sessions did roll back, so a gap was possible.
    assert!(rolled_back > 0, "some inserts rolled back");
    for (ws, returned) in [(W1, &w1_numbers), (W2, &w2_numbers)] {
        let n = returned.len() as i64;
        assert!(n > 0);
        let expected: Vec<i64> = (1..=n).collect();
        let mut got = returned.clone();
        got.sort_unstable();
        assert_eq!(
            got, expected,
            "{ws}: the committed inserts returned exactly 1..{n}"
        );
        let stored: Vec<i64> = owner
            .query(
                &format!("SELECT number FROM support.conversations WHERE workspace_id = '{ws}' ORDER BY number"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(stored, expected, "{ws}: the table holds exactly 1..{n}");
        let distinct: BTreeSet<i64> = stored.iter().copied().collect();
        assert_eq!(distinct.len(), stored.len(), "{ws}: no duplicate");
        let counter: i64 = owner
            .query_one(
                &format!("SELECT last_number FROM support.conversation_counters WHERE workspace_id = '{ws}'"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(counter, n, "{ws}: the counter ends at the last number");
    }
    println!(
        "conversation numbers: {SESSIONS} sessions x {INSERTS} inserts into one workspace (and one session into another), \
         {rolled_back} rolled back at random (seed {seed}): W1 numbered exactly 1..{}, W2 1..{}, in {:?}",
        w1_numbers.len(),
        w2_numbers.len(),
        elapsed
    );
}
