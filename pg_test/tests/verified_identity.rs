//! Verified identity across real transactions: support.authenticate() lasts
//! for its transaction only, dies with a rolled-back savepoint, and in
//! verified mode forged settings (even a placeholder planted before the
//! library loads) identify nobody.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use pg_test::prelude::*;

fn token(sub: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    encode(
        &header,
        &serde_json::json!({"sub": sub, "exp": exp}),
        &EncodingKey::from_secret(b"pg-test-secret, at least 32 bytes for HS256"),
    )
    .unwrap()
}

async fn seen(c: &tokio_postgres::Client) -> i64 {
    c.query_one("SELECT count(*) FROM support.conversations", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn verified_identity_is_transaction_scoped() {
    let db = "cx_verified";
    let owner = fresh_database(db, &[]).await;
    owner
        .batch_execute(&format!(
            "INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k1', 'HS256', 'pg-test-secret, at least 32 bytes for HS256');
             INSERT INTO support.conversations (workspace_id, subject) VALUES ('{W1}', 'one');
             ALTER DATABASE {db} SET support.identity_mode = 'verified';"
        ))
        .await
        .unwrap();
    let tok = token(U1);
    let auth = format!("SELECT support.authenticate('{tok}')");

    // A planted placeholder before the library is loaded does not switch the mode back.
    let app = connect_app(db).await;
    let planted = app
        .batch_execute("SET support.identity_mode = 'claims'")
        .await;
    // Forged claims set inside the transaction (so that only verified mode,
    // not their session scope, can be what ignores them).
    app.batch_execute(&format!(
        "BEGIN; SET LOCAL request.jwt.claims = '{{\"sub\":\"{U1}\"}}'"
    ))
    .await
    .unwrap();
    assert_eq!(
        seen(&app).await,
        0,
        "forged claims in verified mode (planting returned {})",
        sqlstate(&planted)
    );
    app.batch_execute("COMMIT").await.unwrap();
    let mode: String = app
        .query_one("SHOW support.identity_mode", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(mode, "verified");
    // Once loaded, the setting cannot be changed by the application role.
    assert_eq!(
        sqlstate(
            &app.batch_execute("SET support.identity_mode = 'claims'")
                .await
        ),
        "42501"
    );

    // Committed transaction: identity ends with it.
    app.batch_execute("BEGIN").await.unwrap();
    app.batch_execute(&auth).await.unwrap();
    assert_eq!(
        seen(&app).await,
        1,
        "positive control: the verified user sees W1"
    );
    app.batch_execute("COMMIT").await.unwrap();
    assert_eq!(seen(&app).await, 0, "identity must not survive COMMIT");

    // Aborted transaction.
    app.batch_execute("BEGIN").await.unwrap();
    app.batch_execute(&auth).await.unwrap();
    app.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(seen(&app).await, 0, "identity must not survive ROLLBACK");

    // Rolled-back savepoint in which authenticate was called.
    app.batch_execute("BEGIN; SAVEPOINT s").await.unwrap();
    app.batch_execute(&auth).await.unwrap();
    assert_eq!(seen(&app).await, 1);
    app.batch_execute("ROLLBACK TO SAVEPOINT s").await.unwrap();
    assert_eq!(seen(&app).await, 0, "identity must die with its savepoint");
    // Released savepoint: the identity stays for the rest of the transaction.
    app.batch_execute("SAVEPOINT t").await.unwrap();
    app.batch_execute(&auth).await.unwrap();
    app.batch_execute("RELEASE SAVEPOINT t").await.unwrap();
    assert_eq!(seen(&app).await, 1);
    app.batch_execute("COMMIT").await.unwrap();
    assert_eq!(seen(&app).await, 0);

    // Autocommit: the statement is its own transaction.
    app.batch_execute(&auth).await.unwrap();
    assert_eq!(seen(&app).await, 0);
    println!("verified identity: scoped to its transaction and savepoint; forged settings and a planted mode ignored");
}

/// A refused token tells its holder only "invalid token" (28000), even to a
/// client that asks for every message (client_min_messages = debug5); the
/// reason (e.g. that the kid does not exist) is in the server log.
#[tokio::test]
async fn refusals_tell_the_client_nothing_and_the_log_why() {
    let db = "cx_refusals";
    let owner = fresh_database(db, &[]).await;
    owner
        .batch_execute(
            "INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k1', 'HS256', 'pg-test-secret, at least 32 bytes for HS256')",
        )
        .await
        .unwrap();
    let target = Target::from_env();
    let (app, notices) = connect_as(&target, "postgres", db, "cx_refusal_probe")
        .await
        .unwrap();
    app.batch_execute("SET client_min_messages = debug5; SET ROLE support_app")
        .await
        .unwrap();
    // Positive control: this connection does receive server messages.
    app.batch_execute("DO $$ BEGIN RAISE NOTICE 'notice channel works'; END $$")
        .await
        .unwrap();
    assert!(notices
        .take()
        .iter()
        .any(|n| n.contains("notice channel works")));

    let marker = format!("nope-{}", std::process::id());
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut unknown_kid = Header::new(Algorithm::HS256);
    unknown_kid.kid = Some(marker.clone());
    let body = serde_json::json!({"sub": U1, "exp": exp});
    let secret = EncodingKey::from_secret(b"pg-test-secret, at least 32 bytes for HS256");
    let cases = [
        ("unknown kid", encode(&unknown_kid, &body, &secret).unwrap()),
        (
            "bad signature",
            encode(
                &Header::new(Algorithm::HS256),
                &body,
                &EncodingKey::from_secret(b"another secret, also 32 bytes long!!"),
            )
            .unwrap(),
        ),
        (
            "no key of its algorithm",
            encode(&Header::new(Algorithm::HS512), &body, &secret).unwrap(),
        ),
        ("malformed", "not.a.token".to_string()),
    ];
    for (name, tok) in &cases {
        let err = app
            .batch_execute(&format!("SELECT support.authenticate('{tok}')"))
            .await
            .expect_err(name);
        let db_err = err.as_db_error().expect("a server error");
        assert_eq!(db_err.code().code(), "28000", "{name}");
        assert_eq!(db_err.message(), "invalid token", "{name}");
        assert_eq!(db_err.detail(), None, "{name}");
        assert_eq!(db_err.hint(), None, "{name}");
        // debug5 brings the server's own debug lines; none may carry the reason.
        let sent = notices.take();
        let leaked: Vec<&String> = sent
            .iter()
            .filter(|n| {
                [
                    "refused",
                    "kid",
                    "signature",
                    "algorithm",
                    "malformed",
                    marker.as_str(),
                ]
                .iter()
                .any(|word| n.contains(word))
            })
            .collect();
        assert!(leaked.is_empty(), "{name}: the client was sent {leaked:?}");
    }
    // The reason is in the server log (and only there).
    let wanted =
        format!("support.authenticate refused a token: unknown or inactive key id \"{marker}\"");
    let mut found = false;
    for _ in 0..50 {
        let log = std::fs::read_to_string(target.server_log()).unwrap_or_default();
        if log.contains(&wanted) {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(found, "server log lacks: {wanted}");
    println!(
        "token refusals: {} kinds, each 28000 'invalid token' with no detail, hint or notice at client_min_messages = debug5; the reason is in the server log",
        cases.len()
    );
}
