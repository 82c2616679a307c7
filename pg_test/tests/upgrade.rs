//! 0.1.0 (frozen install script, run against the current library) -> ALTER
//! EXTENSION UPDATE: data unchanged, and everything the extension owns equals
//! a fresh install of the current version, compared by name.

mod catalog;
mod common;
use common::*;

const OLD_COLUMNS: &str =
    "id, workspace_id, bot_user_id, channel, status, subject, claimed_by, claimed_at, \
                           escalated_at, resolved_at, created_at, updated_at";

async fn old_data_checksum(c: &tokio_postgres::Client) -> Vec<String> {
    let mut out = Vec::new();
    for (t, cols) in [
        ("users", "*"),
        ("workspaces", "*"),
        ("workspace_members", "*"),
        ("conversations", OLD_COLUMNS),
        ("conversation_messages", "*"),
    ] {
        let row = c
            .query_one(
                &format!(
                    "SELECT count(*)::text || ' ' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') \
                       FROM (SELECT {cols} FROM support.{t}) AS x"
                ),
                &[],
            )
            .await
            .unwrap();
        out.push(format!("{t}: {}", row.get::<_, String>(0)));
    }
    out
}

#[tokio::test]
async fn upgrade_from_0_1_0_keeps_data_and_matches_a_fresh_install() {
    for db in ["cx_upgrade_old", "cx_upgrade_fresh"] {
        recreate_database(db, "").await;
    }
    let old = connect("cx_upgrade_old").await;
    old.batch_execute("CREATE EXTENSION conversations_ext VERSION '0.1.0'")
        .await
        .unwrap();
    assert_eq!(extension_version(&old).await.as_deref(), Some("0.1.0"));

    // Data written under 0.1.0, including a claim made by the 0.1.0 function.
    old.batch_execute(&format!(
        "INSERT INTO support.users (id, kind) VALUES ('{U1}', 'human'), ('{U2}', 'human');
         INSERT INTO support.workspaces (id, name) VALUES ('{W1}', 'w1'), ('{W2}', 'w2');
         INSERT INTO support.workspace_members (workspace_id, user_id) VALUES ('{W1}', '{U1}'), ('{W2}', '{U2}');
         INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
              SELECT '{W1}', 'escalated', now() - make_interval(secs => g), 'c' || g FROM generate_series(1, 20) g;
         INSERT INTO support.conversations (workspace_id, status, subject) VALUES ('{W2}', 'active', 'w2');
         INSERT INTO support.conversation_messages (conversation_id, role, content)
              SELECT id, 'customer', 'hello ' || subject FROM support.conversations;
         SET support.user_id = '{U1}';
         SELECT support.claim_conversation(id) FROM support.conversations WHERE subject = 'c1';
         RESET support.user_id;"
    ))
    .await
    .unwrap();
    let before = old_data_checksum(&old).await;

    old.batch_execute("ALTER EXTENSION conversations_ext UPDATE")
        .await
        .unwrap();
    assert_eq!(extension_version(&old).await.as_deref(), Some("0.2.0"));
    assert_eq!(
        old_data_checksum(&old).await,
        before,
        "data must be unchanged by the upgrade"
    );

    let fresh = connect("cx_upgrade_fresh").await;
    fresh
        .batch_execute("CREATE EXTENSION conversations_ext")
        .await
        .unwrap();
    let upgraded = catalog::describe(&old).await;
    let installed = catalog::describe(&fresh).await;
    let (only_upgraded, only_fresh) = catalog::diff(&upgraded, &installed);
    assert!(
        only_upgraded.is_empty() && only_fresh.is_empty(),
        "upgraded and fresh installs differ:\n only after upgrade:\n  {}\n only in fresh install:\n  {}",
        only_upgraded.join("\n  "),
        only_fresh.join("\n  ")
    );
    println!("upgrade 0.1.0 -> 0.2.0: data unchanged ({}), {} catalog lines identical to a fresh install", before.join(", "), installed.len());

    // The upgraded database works: lifecycle and isolation.
    old.batch_execute(&format!(
        "DO $$ BEGIN CREATE ROLE {APP_ROLE} NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
         SELECT support.grant_usage('{APP_ROLE}');"
    ))
    .await
    .unwrap();
    let app = connect_app("cx_upgrade_old").await;
    app.batch_execute(&format!("SET support.user_id = '{U1}'"))
        .await
        .unwrap();
    let seen: i64 = app
        .query_one("SELECT count(*) FROM support.conversations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 20);
    let next: Option<String> = app
        .query_one(
            &format!("SELECT subject FROM support.claim_next_conversation('{W1}')"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(next.as_deref(), Some("c20"), "oldest waiting first");
    app.batch_execute(&format!("SET support.user_id = '{U2}'"))
        .await
        .unwrap();
    let seen: i64 = app
        .query_one("SELECT count(*) FROM support.conversations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(seen, 1);
}
