//! Fuzzing: seeded random inputs at every Rust entry point reachable from SQL never crash a backend and give only the SQLSTATEs that entry point documents.
//!
//! The entry points: support.current_user_id() through each identity
//! setting (request.jwt.claims, request.jwt.claim.sub, support.user_id:
//! random UTF-8, huge values, deep JSON, odd numbers and escapes),
//! member_workspaces(), workspace_member(), every lifecycle function (random
//! ids, random reasons up to ~1 MB), support.authenticate() (random,
//! structured, correctly signed and huge tokens), lifecycle_pending(), the
//! DROP EXTENSION guard and the identity_mode setting. An XX000 (a Rust panic
//! turned into an ERROR) is a finding. A sentinel connection opened first
//! must still work at the end, and the server log must show no crash. A
//! LATIN1 database is refused at CREATE EXTENSION (0A000), so no text that is
//! not UTF-8 reaches Rust code. `CX_FUZZ_ITERATIONS=<n>` sets the number of
//! inputs (default 6000), `CX_SEED=<n>` the seed, `CX_FUZZ_STRICT=1` fails on
//! any XX000.

mod fuzz;
mod inputs;
mod tally;

use std::collections::BTreeSet;
use std::time::Instant;

use pg_test::cluster::{connect_as, crash_lines, recreate_database, Target};
use pg_test::fixture::{agent_id, fresh_database, APP_ROLE, U1, U2, W1, W2};
use pg_test::rng::{seed_from_env, usize_from_env, Rng};
use pg_test::session::texts;
use tokio_postgres::Client;

use fuzz::Fuzz;
use tally::Tally;

const DEFAULT_SEED: u64 = 0x5eed_0000_0005_0005;
const FUZZ_DB: &str = "cx_robust_fuzz";
const LATIN1_DB: &str = "cx_robust_latin1";
const HS_SECRET: &str = "robustness-test-secret, 32 bytes or more";

/// Public keys of throwaway key pairs (the private halves were discarded):
/// tokens claiming these algorithms reach signature verification.
const ED25519_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAs5Bs0yzrNejRNdtSgfyxP8R24QCymqk2SKCpfcReBjg=
-----END PUBLIC KEY-----";
const P256_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4rCCK4qBVmL6tzM2hewHx4qMgySZ
n/WXyYAOjpcKiIpjXIz4ydeSj84iybMZ4FA02cZfhSa4zdhAWXZIMnSUOw==
-----END PUBLIC KEY-----";

/// The verification keys the tokens name (a key that could never verify,
/// e.g. 'k-bad-pem', is refused when stored: tokens naming it meet an unknown
/// kid); false when the server refused them.
async fn install_keys(su: &Client) -> bool {
    su.batch_execute(&format!(
        "INSERT INTO support.jwt_keys (kid, alg, key) VALUES
           ('k-hs256', 'HS256', '{HS_SECRET}'),
           ('k-hs512', 'HS512', 'another secret, for HS512 it takes sixty-four bytes or more to be kept'),
           ('k-ed', 'EdDSA', '{ED25519_PUBLIC_PEM}'),
           ('k-es', 'ES256', '{P256_PUBLIC_PEM}');
         INSERT INTO support.jwt_keys (kid, alg, key, active) VALUES ('k-inactive', 'HS256', '{HS_SECRET}', false);"
    ))
    .await
    .is_ok()
}

/// CREATE EXTENSION in a LATIN1 database: refused up front (0A000), so text
/// that is not UTF-8 never reaches Rust code.
async fn latin1_create_extension(target: &Target) -> Tally {
    recreate_database(
        LATIN1_DB,
        "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
    )
    .await;
    let (su, _) = connect_as(target, "postgres", LATIN1_DB, "cx-latin1-su")
        .await
        .unwrap();
    let mut tally = Tally::default();
    let created = su.batch_execute("CREATE EXTENSION conversations_ext").await;
    tally.record("LATIN1: CREATE EXTENSION", &["0A000"], "", &created);
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeded_random_inputs_never_crash_a_backend() {
    let started = Instant::now();
    let seed = seed_from_env("CX_SEED", DEFAULT_SEED);
    let iterations = usize_from_env("CX_FUZZ_ITERATIONS", 6000);
    let workers = 4usize;
    println!(
        "robustness: seed {seed:#x}, {iterations} inputs (reproduce: CX_SEED={seed:#x} CX_FUZZ_ITERATIONS={iterations} pg_test/run.sh --test robustness_fuzz)"
    );
    let target = Target::from_env();
    let log_path = target.server_log();

    let agents: Vec<String> = (1..=4).map(agent_id).collect();
    let owner = fresh_database(FUZZ_DB, &agents).await;
    owner
        .batch_execute(&format!(
            "INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
             SELECT '{W1}', CASE WHEN g % 2 = 0 THEN 'escalated' ELSE 'active' END,
                    CASE WHEN g % 2 = 0 THEN now() END, 'fuzz ' || g FROM generate_series(1, 60) g;
             INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
             SELECT '{W2}', 'escalated', now(), 'fuzz w2 ' || g FROM generate_series(1, 10) g;
             INSERT INTO support.users (id) VALUES ('c0000000-0000-4000-8000-00000000000f');
             INSERT INTO support.workspace_members (workspace_id, user_id, role)
             VALUES ('{W1}', 'c0000000-0000-4000-8000-00000000000f', 'viewer');"
        ))
        .await
        .unwrap();
    let conversations: Vec<String> =
        texts(&owner, "SELECT id::text FROM support.conversations").await;
    let mut members: Vec<String> = agents.clone();
    members.extend([
        U1.to_string(),
        U2.to_string(),
        "c0000000-0000-4000-8000-00000000000f".into(),
    ]);
    let has_keys = install_keys(&owner).await;
    println!("robustness: verification keys installed: {has_keys}");
    // Without keys every signed token would only be checked to be refused.
    assert!(
        has_keys,
        "the verification keys must be accepted by support.jwt_keys"
    );

    // The sentinel: opened before the run, must still answer after it. A
    // crash of any backend makes the postmaster terminate every other one.
    let (sentinel, _) = connect_as(&target, "postgres", FUZZ_DB, "cx-fuzz-sentinel")
        .await
        .unwrap();
    let sentinel_pid: i32 = sentinel
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    let mut seeder = Rng::new(seed);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let rng = seeder.fork();
        let target = target.clone();
        let conversations = conversations.clone();
        let members = members.clone();
        let n = iterations / workers + usize::from(w < iterations % workers);
        tasks.push(tokio::spawn(async move {
            let (app, _) = connect_as(&target, "postgres", FUZZ_DB, &format!("cx-fuzz-{w}"))
                .await
                .unwrap();
            app.batch_execute(&format!("SET ROLE {APP_ROLE}"))
                .await
                .unwrap();
            let (su, _) = connect_as(&target, "postgres", FUZZ_DB, &format!("cx-fuzz-su-{w}"))
                .await
                .unwrap();
            let mut f = Fuzz {
                app,
                su,
                rng,
                tally: Tally::default(),
                conversations,
                members,
                has_keys,
            };
            for _ in 0..n {
                if !f.step().await {
                    break;
                }
            }
            f.tally
        }));
    }
    let mut tally = Tally::default();
    for t in tasks {
        tally.merge(t.await.unwrap());
    }
    let fuzz_time = started.elapsed();
    let latin1 = latin1_create_extension(&target).await;

    // Crash detection: the sentinel still answers on the same backend, and
    // the server log gained no crash line.
    let alive = sentinel.query_one("SELECT pg_backend_pid()", &[]).await;
    let sentinel_ok = matches!(&alive, Ok(row) if row.get::<_, i32>(0) == sentinel_pid);
    let log_after = std::fs::read_to_string(&log_path).unwrap_or_default();
    let crash_lines = crash_lines(&log_after);

    println!(
        "robustness: {} inputs in {fuzz_time:?}; outcomes by entry point:",
        tally.inputs
    );
    for (entry, states) in &tally.by_entry {
        println!("  {entry}: {states:?}");
    }
    println!(
        "robustness: {} XX000 (Rust panics), {} unexpected outcomes, {} dead connections; sentinel alive: {sentinel_ok}; \
         crash lines in the server log: {}",
        tally.panics.len(),
        tally.unexpected.len(),
        tally.crashes.len(),
        crash_lines.len()
    );
    let mut seen_kinds = BTreeSet::new();
    for p in &tally.panics {
        let kind = format!(
            "{} {}",
            p.split(':').next().unwrap_or(""),
            p.rsplit("-> ").next().unwrap_or("")
        );
        if seen_kinds.insert(kind) {
            println!("  FINDING (XX000): {p}");
        }
    }
    for u in tally.unexpected.iter().take(20) {
        println!("  unexpected: {u}");
    }
    println!(
        "robustness: LATIN1 database: {} probes {:?}; {} XX000 (findings, not failures), {} unexpected",
        latin1.inputs,
        latin1.by_entry,
        latin1.panics.len(),
        latin1.unexpected.len()
    );
    for p in &latin1.panics {
        let kind = p.split(':').take(2).collect::<Vec<_>>().join(":");
        if seen_kinds.insert(kind) {
            println!("  FINDING (LATIN1, XX000): {p}");
        }
    }
    assert!(
        sentinel_ok,
        "the sentinel connection died: a backend crashed ({alive:?})"
    );
    assert!(
        crash_lines.is_empty(),
        "the server log shows a crash:\n{}",
        crash_lines.join("\n")
    );
    assert!(
        tally.crashes.is_empty(),
        "connections died: {:#?}",
        tally.crashes
    );
    assert!(
        latin1.crashes.is_empty(),
        "LATIN1 probes: connections died: {:#?}",
        latin1.crashes
    );
    // An XX000 is an ordinary ERROR (no crash) but means a Rust panic: a
    // finding. CX_FUZZ_STRICT=1 (make fuzz) fails on it.
    if std::env::var("CX_FUZZ_STRICT").is_ok_and(|v| v == "1") {
        assert!(
            tally.panics.is_empty(),
            "Rust panics (XX000): {:#?}",
            tally.panics
        );
    }
    assert!(
        tally.unexpected.is_empty(),
        "unexpected outcomes: {:#?}",
        tally.unexpected
    );
}
