//! Identity is transaction-scoped: only an identity setting made inside the
//! current transaction counts (SET LOCAL or set_config(..., true), as
//! PostgREST does, or even a plain SET made in this transaction). A pooled
//! connection's next transaction starts as nobody; a value left by a
//! session-level SET in an earlier transaction, by ALTER DATABASE/ROLE ...
//! SET or by connection options identifies nobody, and a function that needs
//! a user then says to use SET LOCAL. Every refusal has a positive control.

use pg_test::prelude::*;
use pg_test::roles::{ensure_role, grant_usage};
use tokio_postgres::Client;

/// An application role that logs in itself (for ALTER ROLE ... SET).
const LOGIN_ROLE: &str = "cx_identity_login";
const COUNT: &str = "SELECT count(*) FROM support.conversations";

/// The three identity settings, each with a value naming `user`.
fn settings(user: &str) -> [(&'static str, String); 3] {
    [
        ("support.user_id", user.to_string()),
        ("request.jwt.claim.sub", user.to_string()),
        ("request.jwt.claims", format!("{{\"sub\":\"{user}\"}}")),
    ]
}

async fn who(c: &Client) -> Option<String> {
    c.query_one("SELECT support.current_user_id()::text", &[])
        .await
        .unwrap()
        .get(0)
}

async fn seen(c: &Client) -> i64 {
    c.query_one(COUNT, &[]).await.unwrap().get(0)
}

/// A database with one conversation in W1 (escalated, so that U1 can claim
/// it) and one in W2; returns the id of the W1 one.
async fn setup(db: &str) -> String {
    let owner = fresh_database(db, &[]).await;
    owner
        .batch_execute(&format!(
            "INSERT INTO support.conversations (workspace_id, subject) VALUES ('{W2}', 'two')"
        ))
        .await
        .unwrap();
    escalated_conversations(&owner, 1).await.remove(0)
}

/// As nobody in an explicit transaction (rolled back) while a session-level
/// value is left over: current_user_id() is NULL, no rows, and
/// claim_conversation fails 28000 saying the session-level value was ignored
/// and to use SET LOCAL.
async fn assert_nobody_in_transaction(app: &Client, id: &str, what: &str) {
    app.batch_execute("BEGIN").await.unwrap();
    assert_eq!(who(app).await, None, "{what}: current_user_id()");
    assert_eq!(seen(app).await, 0, "{what}: rows seen");
    let r = app
        .query_one(&format!("SELECT support.claim_conversation('{id}')"), &[])
        .await;
    assert_eq!(sqlstate(&r), "28000", "{what}: claim_conversation");
    // The message says a session-level value was ignored; the message or its
    // hint says to use SET LOCAL.
    let message = error_message(&r);
    let hint = r
        .as_ref()
        .err()
        .and_then(|e| e.as_db_error())
        .and_then(|d| d.hint())
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("session-level"),
        "{what}: the 28000 message must say a session-level value was ignored: {message:?}"
    );
    assert!(
        message.contains("SET LOCAL") || hint.contains("SET LOCAL"),
        "{what}: the 28000 error must say to use SET LOCAL: {message:?} (hint {hint:?})"
    );
    app.batch_execute("ROLLBACK").await.unwrap();
}

/// Positive control: `name = value` set for this transaction only identifies
/// `user` (current_user_id, rows, a claim that succeeds), rolled back.
async fn assert_local_identifies(app: &Client, id: &str, name: &str, value: &str, user: &str) {
    app.query("BEGIN", &[]).await.unwrap();
    app.query("SELECT set_config($1, $2, true)", &[&name, &value])
        .await
        .unwrap();
    assert_eq!(who(app).await.as_deref(), Some(user), "{name} set locally");
    assert_eq!(seen(app).await, 1, "{name} set locally: rows seen");
    let r = app
        .query_one(&format!("SELECT support.claim_conversation('{id}')"), &[])
        .await;
    assert_eq!(sqlstate(&r), "00000", "{name} set locally: claim");
    app.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn identity_does_not_survive_the_transaction() {
    setup("cx_identity_scope").await;
    let app = connect_app("cx_identity_scope").await;

    // Transaction 1: PostgREST-style identity.
    app.batch_execute("BEGIN").await.unwrap();
    app.batch_execute(&format!(
        "SELECT set_config('request.jwt.claims', '{{\"sub\":\"{U1}\"}}', true)"
    ))
    .await
    .unwrap();
    assert_eq!(
        seen(&app).await,
        1,
        "positive control: U1 sees W1's conversation"
    );
    app.batch_execute("COMMIT").await.unwrap();

    // Transaction 2 on the same connection: nobody.
    assert_eq!(seen(&app).await, 0);
    assert_eq!(who(&app).await, None);

    // Rolled-back transaction: same.
    app.batch_execute(&format!(
        "BEGIN; SET LOCAL support.user_id = '{U1}'; ROLLBACK"
    ))
    .await
    .unwrap();
    assert_eq!(seen(&app).await, 0);

    // A session-level support.user_id made in this transaction counts for it
    // (positive control), and is left on the pooled connection; then an
    // anonymous PostgREST request (claims without sub): nobody.
    app.batch_execute(&format!("BEGIN; SET support.user_id = '{U1}'"))
        .await
        .unwrap();
    assert_eq!(
        seen(&app).await,
        1,
        "positive control: the setting made in this transaction identifies U1"
    );
    app.batch_execute("COMMIT").await.unwrap();
    app.batch_execute("BEGIN; SET LOCAL request.jwt.claims = '{\"role\":\"anon\"}'")
        .await
        .unwrap();
    assert_eq!(
        seen(&app).await,
        0,
        "anonymous request must not fall through to support.user_id"
    );
    app.batch_execute("COMMIT").await.unwrap();
}

#[tokio::test]
async fn a_session_setting_from_an_earlier_transaction_identifies_nobody() {
    let db = "cx_identity_stale";
    let id = setup(db).await;
    let mut checked = 0;
    for (name, value) in settings(U1) {
        let app = connect_app(db).await;
        assert_local_identifies(&app, &id, name, &value, U1).await;

        // Session-level SET in autocommit (its own transaction), then later
        // transactions: autocommit statements and an explicit one.
        app.query("SELECT set_config($1, $2, false)", &[&name, &value])
            .await
            .unwrap();
        let shown: String = app
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(shown, value, "positive control: the session value is there");
        assert_eq!(
            who(&app).await,
            None,
            "stale session {name}: current_user_id()"
        );
        assert_eq!(seen(&app).await, 0, "stale session {name}: rows seen");
        assert_nobody_in_transaction(&app, &id, &format!("stale session {name}")).await;

        // Set with plain SET inside a transaction: counts there (positive
        // control), and is stale in the next one.
        app.batch_execute("BEGIN").await.unwrap();
        app.query("SELECT set_config($1, $2, false)", &[&name, &value])
            .await
            .unwrap();
        assert_eq!(
            who(&app).await.as_deref(),
            Some(U1),
            "{name} SET in this transaction"
        );
        assert_eq!(seen(&app).await, 1, "{name} SET in this transaction: rows");
        app.batch_execute("COMMIT").await.unwrap();
        assert_nobody_in_transaction(
            &app,
            &id,
            &format!("{name} SET in the previous transaction"),
        )
        .await;
        // A fresh local value on top of the stale one counts.
        assert_local_identifies(&app, &id, name, &value, U1).await;
        checked += 1;
    }
    println!(
        "identity scope: {checked} settings; a session value from an earlier transaction identifies nobody (28000 mentions SET LOCAL), one set in the same transaction counts"
    );
}

#[tokio::test]
async fn empty_claims_over_a_stale_user_id_give_nobody() {
    let db = "cx_identity_empty_claims";
    let id = setup(db).await;
    let app = connect_app(db).await;
    // Positive control: an empty claims value counts as not set, so a fresh
    // support.user_id decides.
    app.batch_execute(&format!(
        "BEGIN; SET LOCAL support.user_id = '{U1}'; SELECT set_config('request.jwt.claims', '', true)"
    ))
    .await
    .unwrap();
    assert_eq!(
        who(&app).await.as_deref(),
        Some(U1),
        "empty claims over a fresh user_id"
    );
    app.batch_execute("ROLLBACK").await.unwrap();
    // Over a stale session-level support.user_id: nobody.
    app.batch_execute(&format!("SET support.user_id = '{U1}'"))
        .await
        .unwrap();
    app.batch_execute("BEGIN; SELECT set_config('request.jwt.claims', '', true)")
        .await
        .unwrap();
    assert_eq!(who(&app).await, None, "empty claims over a stale user_id");
    assert_eq!(seen(&app).await, 0);
    app.batch_execute("ROLLBACK").await.unwrap();
    assert_nobody_in_transaction(&app, &id, "stale support.user_id").await;
}

#[tokio::test]
async fn stale_session_claims_do_not_outrank_a_fresh_user_id() {
    let db = "cx_identity_precedence";
    setup(db).await;
    let app = connect_app(db).await;
    let claims_u2 = format!("{{\"sub\":\"{U2}\"}}");
    // Positive control: fresh claims outrank a fresh support.user_id.
    app.query("BEGIN", &[]).await.unwrap();
    app.query(
        "SELECT set_config('request.jwt.claims', $1, true), set_config('support.user_id', $2, true)",
        &[&claims_u2, &U1],
    )
    .await
    .unwrap();
    assert_eq!(who(&app).await.as_deref(), Some(U2), "fresh claims first");
    app.batch_execute("ROLLBACK").await.unwrap();
    // Stale session claims naming U2, fresh SET LOCAL support.user_id = U1: U1.
    app.query(
        "SELECT set_config('request.jwt.claims', $1, false)",
        &[&claims_u2],
    )
    .await
    .unwrap();
    app.batch_execute(&format!("BEGIN; {}", set_local_user(U1)))
        .await
        .unwrap();
    assert_eq!(
        who(&app).await.as_deref(),
        Some(U1),
        "the fresh user_id decides"
    );
    let workspaces: Vec<String> = texts(
        &app,
        "SELECT DISTINCT workspace_id::text FROM support.conversations",
    )
    .await;
    assert_eq!(workspaces, vec![W1.to_string()], "U1's rows, not U2's");
    app.batch_execute("COMMIT").await.unwrap();
    // Stale session request.jwt.claim.sub naming U2 likewise.
    // (Separate queries: in one multi-statement query the statements before
    // BEGIN would belong to the same transaction.)
    app.batch_execute(&format!(
        "RESET request.jwt.claims; SET request.jwt.claim.sub = '{U2}'"
    ))
    .await
    .unwrap();
    app.batch_execute(&format!("BEGIN; {}", set_local_user(U1)))
        .await
        .unwrap();
    assert_eq!(
        who(&app).await.as_deref(),
        Some(U1),
        "the fresh user_id decides over claim.sub"
    );
    app.batch_execute("COMMIT").await.unwrap();
}

/// A default from `source` (ALTER DATABASE / ROLE SET, a connection option)
/// is in force (positive control: SHOW returns it) yet identifies nobody, and
/// a SET LOCAL in the same session still does.
async fn applies_but_identifies_nobody(
    app: &Client,
    id: &str,
    name: &str,
    value: &str,
    source: &str,
) {
    let shown: String = app
        .query_one(&format!("SHOW {name}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(shown, value, "positive control: the {source} value applies");
    assert_nobody_in_transaction(app, id, &format!("{source} {name}")).await;
    assert_local_identifies(app, id, "support.user_id", U1, U1).await;
}

#[tokio::test]
async fn database_role_and_connection_defaults_identify_nobody() {
    let db = "cx_identity_defaults";
    let id = setup(db).await;
    let admin = connect(db).await;
    ensure_role(&admin, LOGIN_ROLE, "LOGIN").await;
    grant_usage(&admin, LOGIN_ROLE).await;
    for (name, value) in settings(U1) {
        // ALTER DATABASE ... SET.
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {db} SET {name} = '{}'",
                value.replace('\'', "''")
            ))
            .await
            .unwrap();
        let app = connect_app(db).await;
        applies_but_identifies_nobody(&app, &id, name, &value, "ALTER DATABASE SET").await;
        admin
            .batch_execute(&format!("ALTER DATABASE {db} RESET {name}"))
            .await
            .unwrap();

        // ALTER ROLE ... IN DATABASE ... SET, for a role that logs in (SET
        // ROLE does not apply role defaults; a login does). Scoped to this
        // database: roles are cluster-wide.
        admin
            .batch_execute(&format!(
                "ALTER ROLE {LOGIN_ROLE} IN DATABASE {db} SET {name} = '{}'",
                value.replace('\'', "''")
            ))
            .await
            .unwrap();
        let app = connect_with(db, &format!("user={LOGIN_ROLE}")).await;
        applies_but_identifies_nobody(&app, &id, name, &value, "ALTER ROLE SET").await;
        admin
            .batch_execute(&format!(
                "ALTER ROLE {LOGIN_ROLE} IN DATABASE {db} RESET {name}"
            ))
            .await
            .unwrap();

        // Connection options (-c name=value).
        let app = connect_with(db, &format!("options='-c {name}={value}'")).await;
        app.batch_execute(&format!("SET ROLE {APP_ROLE}"))
            .await
            .unwrap();
        applies_but_identifies_nobody(&app, &id, name, &value, "connection option").await;
    }
    println!("identity scope: ALTER DATABASE SET, ALTER ROLE SET and connection options (-c) identify nobody, for all three settings");
}
