//! Identity is transaction-scoped when set with SET LOCAL (as PostgREST does):
//! a pooled connection's next transaction starts as nobody, and an anonymous
//! request never inherits a stale session-level support.user_id.

mod common;
use common::*;

#[tokio::test]
async fn identity_does_not_survive_the_transaction() {
    let owner = fresh_database("cx_identity_scope", &[]).await;
    owner
        .batch_execute(&format!(
            "INSERT INTO support.conversations (workspace_id, subject) VALUES ('{W1}', 'one')"
        ))
        .await
        .unwrap();
    let app = connect_app("cx_identity_scope").await;
    let count = "SELECT count(*) FROM support.conversations";

    // Transaction 1: PostgREST-style identity.
    app.batch_execute("BEGIN").await.unwrap();
    app.batch_execute(&format!(
        "SELECT set_config('request.jwt.claims', '{{\"sub\":\"{U1}\"}}', true)"
    ))
    .await
    .unwrap();
    let seen: i64 = app.query_one(count, &[]).await.unwrap().get(0);
    assert_eq!(seen, 1, "positive control: U1 sees W1's conversation");
    app.batch_execute("COMMIT").await.unwrap();

    // Transaction 2 on the same connection: nobody.
    let seen: i64 = app.query_one(count, &[]).await.unwrap().get(0);
    assert_eq!(seen, 0);
    let who: Option<String> = app
        .query_one("SELECT support.current_user_id()::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, None);

    // Rolled-back transaction: same.
    app.batch_execute(&format!(
        "BEGIN; SET LOCAL support.user_id = '{U1}'; ROLLBACK"
    ))
    .await
    .unwrap();
    let seen: i64 = app.query_one(count, &[]).await.unwrap().get(0);
    assert_eq!(seen, 0);

    // A stale session-level support.user_id on a pooled connection, then an
    // anonymous PostgREST request (claims without sub): nobody.
    app.batch_execute(&format!("SET support.user_id = '{U1}'"))
        .await
        .unwrap();
    let seen: i64 = app.query_one(count, &[]).await.unwrap().get(0);
    assert_eq!(
        seen, 1,
        "positive control: the session setting identifies U1"
    );
    app.batch_execute("BEGIN; SET LOCAL request.jwt.claims = '{\"role\":\"anon\"}'")
        .await
        .unwrap();
    let seen: i64 = app.query_one(count, &[]).await.unwrap().get(0);
    assert_eq!(
        seen, 0,
        "anonymous request must not fall through to support.user_id"
    );
    app.batch_execute("COMMIT").await.unwrap();
}
