//! CREATE EXTENSION preconditions.

mod common;
use common::*;

#[tokio::test]
async fn a_non_utf8_database_is_refused_up_front() {
    let admin = connect("postgres").await;
    admin
        .batch_execute("DROP DATABASE IF EXISTS cx_latin1 WITH (FORCE)")
        .await
        .unwrap();
    admin
        .batch_execute("CREATE DATABASE cx_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
        .await
        .unwrap();
    let c = connect("cx_latin1").await;
    let r = c.batch_execute("CREATE EXTENSION conversations_ext").await;
    assert_eq!(sqlstate(&r), "0A000");
    let installed: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_extension WHERE extname = 'conversations_ext'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(installed, 0);
    // Positive control: a UTF8 database takes it.
    let ok = fresh_database("cx_utf8", &[]).await;
    let n: i64 = ok
        .query_one(
            "SELECT count(*) FROM pg_extension WHERE extname = 'conversations_ext'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}
