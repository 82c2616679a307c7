//! DROP EXTENSION, DROP SCHEMA support [CASCADE] and DROP TABLE of a
//! support table refuse to delete tenant data (2BP01) unless explicitly
//! allowed for the transaction by a superuser; every row survives a refusal.

use pg_test::checksum;
use pg_test::prelude::*;
use tokio_postgres::Client;

#[tokio::test]
async fn drop_extension_is_refused_while_tables_hold_rows() {
    let db = "cx_drop_guard";
    let c = fresh_database(db, &[]).await;
    let r = c.batch_execute("DROP EXTENSION conversations_ext").await;
    assert_eq!(sqlstate(&r), "2BP01");
    // The DETAIL names the tables that hold rows.
    let detail = r
        .err()
        .and_then(|e| e.as_db_error().and_then(|d| d.detail().map(str::to_string)))
        .unwrap_or_default();
    assert!(detail.contains("support.users"), "{detail}");
    // Through dynamic SQL too (the guard reads the parse tree, not the query text).
    let r = c
        .batch_execute("DO $$ BEGIN EXECUTE 'DROP EXTENSION ' || 'conversations' || '_ext'; END $$")
        .await;
    assert_eq!(sqlstate(&r), "2BP01");
    let version = default_version(&c).await;
    assert_eq!(
        extension_version(&c).await.as_deref(),
        Some(version.as_str())
    );
    // Other extensions are not affected (citext: in PostgreSQL's contrib on
    // every version we test, the PostgreSQL 18 wheel included).
    c.batch_execute("CREATE EXTENSION citext; DROP EXTENSION citext")
        .await
        .unwrap();
    // Explicitly allowed for the transaction: dropped.
    c.batch_execute("BEGIN; SET LOCAL support.allow_drop_with_data = on; DROP EXTENSION conversations_ext; COMMIT")
        .await
        .unwrap();
    assert_eq!(extension_version(&c).await, None);
    // Empty tables: no guard needed.
    c.batch_execute("CREATE EXTENSION conversations_ext; DROP EXTENSION conversations_ext")
        .await
        .unwrap();
    println!("drop guard: refused with data (2BP01, also via dynamic SQL), allowed with SET LOCAL support.allow_drop_with_data, allowed when empty");
}

#[tokio::test]
async fn only_a_superuser_may_allow_it() {
    let db = "cx_drop_guard_role";
    let c = fresh_database(db, &[]).await;
    let app = connect_app(db).await;
    let r = app
        .batch_execute("SET support.allow_drop_with_data = on")
        .await;
    // Before the library is loaded in this session the placeholder is refused
    // when the library loads; after, SET itself is refused.
    app.batch_execute("SELECT support.current_user_id()")
        .await
        .unwrap();
    let r2 = app
        .batch_execute("SET support.allow_drop_with_data = on")
        .await;
    assert_eq!(sqlstate(&r2), "42501", "first attempt: {}", sqlstate(&r));
    let on: String = app
        .query_one("SHOW support.allow_drop_with_data", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(on, "off");
    // An application role's DROP EXTENSION fails with PostgreSQL's own
    // ownership error; the guard does not run its checks for it.
    let r = app.batch_execute("DROP EXTENSION conversations_ext").await;
    assert_eq!(sqlstate(&r), "42501");
    let err = r.unwrap_err();
    let db = err.as_db_error().expect("a server error");
    assert!(
        db.message().contains("must be owner of extension"),
        "{}",
        db.message()
    );
    assert!(
        db.detail().is_none(),
        "no backtrace or detail: {:?}",
        db.detail()
    );
    drop(c);
}

/// "count md5" of every support table, by table.
async fn all_rows(c: &Client) -> Vec<(String, i64, String)> {
    checksum::by_table(c).await
}

/// Runs a drop a careless DBA might type; it must fail 2BP01 and leave
/// every row and the extension in place. Returns who refused it: the guard,
/// or PostgreSQL's own dependency check.
async fn refused(c: &Client, sql: &str, before: &[(String, i64, String)]) -> &'static str {
    let r = c.batch_execute(sql).await;
    assert_eq!(sqlstate(&r), "2BP01", "{sql}: {}", error_message(&r));
    let message = error_message(&r);
    // A refusal inside BEGIN ... COMMIT leaves the transaction aborted.
    let _ = c.batch_execute("ROLLBACK").await;
    assert_eq!(all_rows(c).await, before, "{sql}: every row must survive");
    assert!(
        extension_version(c).await.is_some(),
        "{sql}: the extension must survive"
    );
    // PostgreSQL: "cannot drop X because other objects depend on it" /
    // "... because extension conversations_ext requires it".
    if message.contains(" because ") {
        "PostgreSQL's dependency check"
    } else {
        "the guard"
    }
}

#[tokio::test]
async fn drop_schema_and_drop_table_are_refused_while_tables_hold_rows() {
    let db = "cx_drop_guard_schema";
    let c = fresh_database(db, &[]).await;
    c.batch_execute(&format!(
        "INSERT INTO support.conversations (workspace_id, subject) VALUES ('{W1}', 'keep me');
         INSERT INTO support.conversation_messages (conversation_id, role, content)
              SELECT id, 'customer', 'keep me too' FROM support.conversations;"
    ))
    .await
    .unwrap();
    let before = all_rows(&c).await;
    assert!(before.iter().any(|(_, n, _)| *n > 0));
    let mut report = Vec::new();
    for sql in [
        "DROP SCHEMA support CASCADE",
        "DROP SCHEMA support",
        "DROP SCHEMA IF EXISTS support CASCADE",
        "DROP SCHEMA public, support CASCADE",
        "DROP TABLE support.conversations CASCADE",
        "DROP TABLE support.conversations",
        "DROP TABLE support.conversation_messages, support.conversations CASCADE",
        "DROP TABLE IF EXISTS support.users CASCADE",
        "DO $$ BEGIN EXECUTE 'DROP SCHEMA ' || 'supp' || 'ort CASCADE'; END $$",
        "DO $$ BEGIN EXECUTE format('DROP TABLE %I.%I CASCADE', 'support', 'conversations'); END $$",
        // In a transaction block, as a migration tool would.
        "BEGIN; DROP SCHEMA support CASCADE; COMMIT",
    ] {
        let by = refused(&c, sql, &before).await;
        report.push(format!("{sql}: 2BP01 from {by}"));
    }
    // A table taken out of the extension first: PostgreSQL's dependency
    // check no longer protects it, the guard must.
    for table in ["conversations", "conversation_messages"] {
        c.batch_execute(&format!(
            "ALTER EXTENSION conversations_ext DROP TABLE support.{table}"
        ))
        .await
        .unwrap();
        for sql in [
            format!("DROP TABLE support.{table} CASCADE"),
            format!("DO $$ BEGIN EXECUTE 'DROP TABLE support.{table} CASCADE'; END $$"),
        ] {
            let by = refused(&c, &sql, &before).await;
            assert_eq!(
                by, "the guard",
                "{sql} after ALTER EXTENSION ... DROP TABLE: only the guard can refuse it"
            );
            report.push(format!(
                "{sql} (detached from the extension): 2BP01 from {by}"
            ));
        }
        c.batch_execute(&format!(
            "ALTER EXTENSION conversations_ext ADD TABLE support.{table}"
        ))
        .await
        .unwrap();
    }
    println!("drop guard, with data:\n  {}", report.join("\n  "));

    // Positive control: explicitly allowed for the transaction, DROP SCHEMA
    // CASCADE goes through (and takes the extension with it).
    c.batch_execute(
        "BEGIN; SET LOCAL support.allow_drop_with_data = on; DROP SCHEMA support CASCADE; COMMIT",
    )
    .await
    .unwrap();
    assert_eq!(extension_version(&c).await, None);
    let schema: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_namespace WHERE nspname = 'support'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(schema, 0, "the schema is gone");
    println!("drop guard: DROP SCHEMA support CASCADE allowed with SET LOCAL support.allow_drop_with_data = on");
}

#[tokio::test]
async fn an_empty_database_drops_freely() {
    let db = "cx_drop_guard_empty";
    let c = recreate_database(db, "").await;
    drop(c);
    let c = connect(db).await;
    c.batch_execute("CREATE EXTENSION conversations_ext")
        .await
        .unwrap();
    // No data: the notification secret an install makes is not data (not dumped).
    assert!(checksum::dumped_by_table(&c)
        .await
        .iter()
        .all(|(_, n, _)| *n == 0));
    c.batch_execute("DROP SCHEMA support CASCADE")
        .await
        .unwrap();
    assert_eq!(extension_version(&c).await, None);
    c.batch_execute("CREATE EXTENSION conversations_ext")
        .await
        .unwrap();
    c.batch_execute(
        "ALTER EXTENSION conversations_ext DROP TABLE support.conversation_messages; \
         DROP TABLE support.conversation_messages CASCADE",
    )
    .await
    .unwrap();
    c.batch_execute("DROP EXTENSION conversations_ext")
        .await
        .unwrap();
    assert_eq!(extension_version(&c).await, None);
    println!("drop guard: an empty database drops freely (DROP SCHEMA CASCADE, DROP TABLE, DROP EXTENSION)");
}
