//! pg_dump -Fc of a database using the extension, with data in every table,
//! restored with pg_restore into a fresh database: exit 0, nothing on stderr,
//! every row identical, the same policies, indexes, grants and triggers, and
//! isolation still holds on the copy.

use pg_test::catalog;
use pg_test::checksum;
use pg_test::cluster::as_postgres;
use pg_test::prelude::*;

/// Runs PostgreSQL program `program` as the postgres user (from `/`);
/// returns (status, stderr).
fn run_as_postgres(program: &str, args: &[&str]) -> (i32, String) {
    let out = as_postgres(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} {args:?}: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_and_restore_keeps_everything() {
    let db = "cx_backup_src";
    let a2 = agent_id(2);
    let owner = fresh_database(db, std::slice::from_ref(&a2)).await;
    // Data in every table: conversations in every state, messages (one agent
    // reply stamps first_agent_reply_at), events from the lifecycle functions,
    // a verification key.
    owner
        .batch_execute(&format!(
            "INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
                  SELECT '{W1}', 'escalated', now() - make_interval(mins => 31 - g), 'c' || g FROM generate_series(1, 30) g;
             INSERT INTO support.conversations (workspace_id, status, subject) VALUES ('{W2}', 'active', 'w2 bot');
             INSERT INTO support.conversation_messages (conversation_id, role, content)
                  SELECT id, 'customer', 'hello ' || subject FROM support.conversations;
             INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k1', 'HS256', 'backup-secret, at least 32 bytes for HS256');
             INSERT INTO support.staff (user_id, role, all_workspaces) VALUES ('{a2}', 'agent', false);
             INSERT INTO support.staff_workspaces (workspace_id, user_id) VALUES ('{W2}', '{a2}');"
        ))
        .await
        .unwrap();
    // Each lifecycle call in a transaction of its own, identity set locally.
    let app = connect_app(db).await;
    for _ in 0..10 {
        as_user_batch(
            &app,
            U1,
            &format!("SELECT support.claim_next_conversation('{W1}')"),
        )
        .await
        .unwrap();
    }
    for sql in [
        format!(
            "INSERT INTO support.conversation_messages (conversation_id, role, author_id, content)
              SELECT id, 'agent', '{U1}', 'on it' FROM support.conversations WHERE claimed_by = '{U1}'"
        ),
        "SELECT support.release_conversation(id) FROM support.conversations WHERE subject = 'c1'"
            .to_string(),
        format!(
            "SELECT support.transfer_conversation(id, '{a2}') FROM support.conversations WHERE subject = 'c2'"
        ),
        "SELECT support.resolve_conversation(id) FROM support.conversations WHERE subject = 'c3'"
            .to_string(),
        "SELECT support.reopen_conversation(id) FROM support.conversations WHERE subject = 'c3'"
            .to_string(),
        "SELECT support.mark_read(id) FROM support.conversations WHERE subject IN ('c4', 'c5')".to_string(),
    ] {
        as_user_batch(&app, U1, &sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    as_user_batch(&app, U2, "SELECT support.escalate_conversation(id, 'needs a human') FROM support.conversations WHERE subject = 'w2 bot'")
        .await
        .unwrap();
    drop(app);

    let all_rows = checksum::by_table(&owner).await;
    assert!(
        all_rows.iter().all(|(_, n, _)| *n > 0),
        "every table must hold data: {all_rows:?}"
    );
    // What a dump leaves out is what docs/operations.md says it does.
    assert_eq!(
        checksum::not_dumped(&owner).await,
        ["membership_versions", "notification_secret"]
    );
    let source_rows = checksum::dumped_by_table(&owner).await;
    let secret = "SELECT encode(secret, 'hex') FROM support.notification_secret";
    let source_secret: String = owner.query_one(secret, &[]).await.unwrap().get(0);
    let source_catalog = catalog::describe(&owner).await;

    let host = std::env::var("CX_PGHOST").unwrap();
    let port = std::env::var("CX_PGPORT").unwrap();
    let dump = format!("{host}/cx_backup.dump");
    let (status, stderr) = run_as_postgres(
        "pg_dump",
        &["-Fc", "-h", &host, "-p", &port, "-d", db, "-f", &dump],
    );
    assert_eq!((status, stderr.as_str()), (0, ""), "pg_dump");

    recreate_database("cx_backup_restored", "").await;
    let (status, stderr) = run_as_postgres(
        "pg_restore",
        &["-h", &host, "-p", &port, "-d", "cx_backup_restored", &dump],
    );
    assert_eq!(
        (status, stderr.as_str()),
        (0, ""),
        "pg_restore must exit 0 with no errors or warnings"
    );

    let restored = connect("cx_backup_restored").await;
    let restored_rows = checksum::dumped_by_table(&restored).await;
    assert_eq!(
        restored_rows, source_rows,
        "every row identical (count and md5 per table)"
    );
    // A new notification secret (new channels), as docs/operations.md says.
    let restored_secret: String = restored.query_one(secret, &[]).await.unwrap().get(0);
    assert_eq!(restored_secret.len(), 64);
    assert_ne!(
        restored_secret, source_secret,
        "a restore makes its own secret"
    );
    let restored_catalog = catalog::describe(&restored).await;
    let (only_source, only_restored) = catalog::diff(&source_catalog, &restored_catalog);
    assert!(
        only_source.is_empty() && only_restored.is_empty(),
        "catalog differs after restore:\n only in source:\n  {}\n only in restored:\n  {}",
        only_source.join("\n  "),
        only_restored.join("\n  ")
    );
    println!(
        "backup/restore: {} tables identical ({}), {} catalog lines (policies, indexes, grants, triggers) identical",
        restored_rows.len(),
        restored_rows.iter().map(|(t, n, _)| format!("{t} {n}")).collect::<Vec<_>>().join(", "),
        restored_catalog.len()
    );

    // Isolation on the restored copy, with a positive control.
    let app = connect_app("cx_backup_restored").await;
    let w2: Vec<String> = as_user(
        &app,
        U2,
        "SELECT DISTINCT workspace_id::text FROM support.conversations",
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    assert_eq!(w2, vec![W2.to_string()]);
    let r = as_user(
        &app,
        U2,
        &format!("INSERT INTO support.conversations (workspace_id) VALUES ('{W1}')"),
    )
    .await;
    assert_eq!(sqlstate(&r), "42501");
    let w1 = count_as(&app, U1, "SELECT count(*) FROM support.conversations").await;
    assert_eq!(w1, 30);
    let events_w1 = count_as(&app, U1, "SELECT count(*) FROM support.conversation_events").await;
    let events_all: i64 = restored
        .query_one("SELECT count(*) FROM support.conversation_events", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        events_w1 > 0 && events_w1 < events_all,
        "U1 reads W1's events only ({events_w1} of {events_all})"
    );
    // Claims still work on the copy, and the key came along.
    let next: Option<String> = as_user_one(
        &app,
        U1,
        &format!("SELECT id::text FROM support.claim_next_conversation('{W1}')"),
    )
    .await
    .unwrap()
    .get(0);
    assert!(next.is_some());
    let keys: i64 = restored
        .query_one("SELECT count(*) FROM support.jwt_keys", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(keys, 1);
}
