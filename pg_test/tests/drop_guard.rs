//! DROP EXTENSION refuses to delete tenant data unless explicitly allowed.

mod common;
use common::*;

#[tokio::test]
async fn drop_extension_is_refused_while_tables_hold_rows() {
    let db = "cx_drop_guard";
    let c = fresh_database(db, &[]).await;
    let r = c.batch_execute("DROP EXTENSION conversations_ext").await;
    assert_eq!(sqlstate(&r), "2BP01");
    let msg = r
        .err()
        .and_then(|e| e.as_db_error().map(|d| d.message().to_string()))
        .unwrap_or_default();
    assert!(msg.contains("support.users"), "{msg}");
    // Through dynamic SQL too (the guard reads the parse tree, not the query text).
    let r = c
        .batch_execute("DO $$ BEGIN EXECUTE 'DROP EXTENSION ' || 'conversations' || '_ext'; END $$")
        .await;
    assert_eq!(sqlstate(&r), "2BP01");
    assert_eq!(extension_version(&c).await.as_deref(), Some("0.2.0"));
    // Other extensions are not affected.
    c.batch_execute("CREATE EXTENSION pgcrypto; DROP EXTENSION pgcrypto")
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
