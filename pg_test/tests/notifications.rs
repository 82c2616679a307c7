//! Tenant-safe notifications (docs/security.md#notifications), on real
//! connections: a member hears its workspace's escalation at COMMIT and
//! nothing after a ROLLBACK; a non-member cannot obtain another workspace's
//! channel; a listener on every channel it can name hears nothing of other
//! workspaces; payloads carry ids and kinds, never content.

use pg_test::prelude::*;
use tokio_postgres::Client;

const DB: &str = "cx_notifications";

/// Every notification that reached `heard` until now (a statement first, so
/// that whatever the server sent before it has arrived).
async fn drain(listener: &Client, heard: &pg_test::cluster::Heard) -> Vec<(String, String)> {
    listener.batch_execute("SELECT 1").await.unwrap();
    heard.take()
}

async fn channel_as(c: &Client, user: &str, ws: &str) -> Result<String, tokio_postgres::Error> {
    as_user_one(
        c,
        user,
        &format!("SELECT support.notification_channel('{ws}')"),
    )
    .await
    .map(|r| r.get(0))
}

async fn opened(owner: &Client, ws: &str, subject: &str) -> String {
    owner
        .query_one(
            &format!(
                "INSERT INTO support.conversations (workspace_id, subject) VALUES ('{ws}', '{subject}') RETURNING id::text"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_hears_its_workspace_at_commit_and_nothing_else() {
    let owner = fresh_database(DB, &[]).await;
    let app = connect_app(DB).await;
    // U1 reads W1 only, U2 reads W2 only.
    let w1 = channel_as(&app, U1, W1).await.unwrap();
    let w2 = channel_as(&app, U2, W2).await.unwrap();
    assert_ne!(w1, w2);
    for (ch, ws) in [(&w1, W1), (&w2, W2)] {
        assert!(ch.starts_with("cx_") && ch.len() == 35, "{ch}");
        assert!(
            !ch.contains(&ws.replace('-', "")[..8]),
            "{ch} shows its workspace"
        );
    }
    // Stable: the same name on every call and connection.
    assert_eq!(
        channel_as(&connect_app(DB).await, U1, W1).await.unwrap(),
        w1
    );

    // A non-member cannot obtain another workspace's channel: the same
    // "not found" as for a workspace that does not exist; nobody: 28000.
    let refused = channel_as(&app, U1, W2).await;
    assert_eq!(sqlstate(&refused), "P0002", "{}", error_message(&refused));
    let missing = channel_as(&app, U1, "a9999999-0000-4000-8000-000000000009").await;
    assert_eq!(
        error_message(&refused).replace(W2, "?"),
        error_message(&missing).replace("a9999999-0000-4000-8000-000000000009", "?")
    );
    let nobody = app
        .query_one(&format!("SELECT support.notification_channel('{W1}')"), &[])
        .await;
    assert_eq!(sqlstate(&nobody), "28000");
    // The internal channel function is not the application's.
    let internal = app
        .query_one(
            &format!("SELECT support.notification_channel_of('{W2}')"),
            &[],
        )
        .await;
    assert!(
        is_missing_privilege(internal.as_ref().unwrap_err()),
        "{}",
        error_message(&internal)
    );

    // U1 listens on W1's channel.
    let (listener, heard) = connect_listening(DB).await;
    listener
        .batch_execute(&format!("SET ROLE {APP_ROLE}; LISTEN \"{w1}\""))
        .await
        .unwrap();
    let conv = opened(&owner, W1, "secret subject").await;
    assert_eq!(
        drain(&listener, &heard).await,
        vec![(
            w1.clone(),
            format!(
                r#"{{"kind" : "created", "conversation_id" : "{conv}", "event_id" : "{}"}}"#,
                event_id(&owner, &conv, "created").await
            )
        )],
        "the insert's created event"
    );
    // An escalation rolled back: nothing. Committed: one notification, ids and kind only.
    let agent = connect_app(DB).await;
    let escalate =
        format!("SELECT support.escalate_conversation('{conv}', 'customer wants a human')");
    agent.batch_execute("BEGIN").await.unwrap();
    agent.batch_execute(&set_local_user(U1)).await.unwrap();
    agent.batch_execute(&escalate).await.unwrap();
    assert_eq!(
        drain(&listener, &heard).await,
        vec![],
        "nothing before COMMIT"
    );
    agent.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        drain(&listener, &heard).await,
        vec![],
        "nothing after ROLLBACK"
    );
    agent.batch_execute("BEGIN").await.unwrap();
    agent.batch_execute(&set_local_user(U1)).await.unwrap();
    agent.batch_execute(&escalate).await.unwrap();
    agent.batch_execute("COMMIT").await.unwrap();
    let got = drain(&listener, &heard).await;
    assert_eq!(
        got,
        vec![(
            w1.clone(),
            format!(
                r#"{{"kind" : "escalated", "conversation_id" : "{conv}", "event_id" : "{}"}}"#,
                event_id(&owner, &conv, "escalated").await
            )
        )]
    );
    assert!(!got[0].1.contains("customer wants a human") && !got[0].1.contains("secret subject"));

    // A message: its ids, not its text.
    let message: String = as_user_one(
        &agent,
        U1,
        &format!("INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('{conv}', 'agent', 'the refund code is 1234') RETURNING id::text"),
    )
    .await
    .unwrap()
    .get(0);
    assert_eq!(
        drain(&listener, &heard).await,
        vec![(
            w1.clone(),
            format!(
                r#"{{"kind" : "message", "conversation_id" : "{conv}", "message_id" : "{message}"}}"#
            )
        )]
    );

    // W2's activity never reaches W1's listener (positive control: W2's own
    // listener hears it). This one listens through support.listen(), which
    // keeps the name out of the statement; it returns the channel.
    let (listener2, heard2) = connect_listening(DB).await;
    listener2
        .batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .unwrap();
    let listening: String = as_user_one(&listener2, U2, &format!("SELECT support.listen('{W2}')"))
        .await
        .unwrap()
        .get(0);
    assert_eq!(listening, w2);
    let conv2 = opened(&owner, W2, "other tenant").await;
    assert_eq!(drain(&listener, &heard).await, vec![]);
    let heard_w2 = drain(&listener2, &heard2).await;
    assert_eq!(heard_w2.len(), 1, "{heard_w2:?}");
    assert!(heard_w2[0].1.contains(&conv2));

    // The DBA rotates the secret (after removing a member who must stop
    // hearing): every channel changes, the old one falls silent. Backends
    // that cached the secret forget it, also one inside a REPEATABLE READ
    // transaction whose snapshot predates the rotation.
    let rr = connect_app(DB).await;
    assert_eq!(
        channel_as(&rr, U1, W1).await.unwrap(),
        w1,
        "rr caches the old secret"
    );
    rr.batch_execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ; {}; SELECT count(*) FROM support.conversations",
        set_local_user(U1)
    ))
    .await
    .unwrap();
    owner
        .batch_execute("SELECT support.rotate_notification_secret()")
        .await
        .unwrap();
    let w1_new = channel_as(&app, U1, W1).await.unwrap();
    assert_ne!(w1_new, w1);
    let in_rr: String = rr
        .query_one(&format!("SELECT support.notification_channel('{W1}')"), &[])
        .await
        .unwrap()
        .get(0);
    rr.batch_execute("COMMIT").await.unwrap();
    assert_eq!(in_rr, w1_new, "an old snapshot derives the new channel");
    assert_eq!(channel_as(&rr, U1, W1).await.unwrap(), w1_new);
    // A rotation rolled back changes nothing, in the backend that made it too.
    owner
        .batch_execute(&format!(
            "BEGIN; SELECT support.rotate_notification_secret(); SELECT support.notification_channel_of('{W1}'); ROLLBACK"
        ))
        .await
        .unwrap();
    let after_rollback: String = owner
        .query_one(
            &format!("SELECT support.notification_channel_of('{W1}')"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(after_rollback, w1_new);
    opened(&owner, W1, "after the rotation").await;
    assert_eq!(
        drain(&listener, &heard).await,
        vec![],
        "the old channel is silent"
    );
    let rotated = app
        .query_one("SELECT support.rotate_notification_secret()", &[])
        .await;
    assert!(
        is_missing_privilege(rotated.as_ref().unwrap_err()),
        "{}",
        error_message(&rotated)
    );
}

async fn event_id(owner: &Client, conv: &str, kind: &str) -> String {
    owner
        .query_one(
            &format!("SELECT id::text FROM support.conversation_events WHERE conversation_id = '{conv}' AND kind = '{kind}' ORDER BY created_at DESC LIMIT 1"),
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_on_every_channel_it_can_name_hears_nothing_of_other_workspaces() {
    let db = "cx_notifications_names";
    let owner = fresh_database(db, &[]).await;
    let app = connect_app(db).await;
    let mine = channel_as(&app, U1, W1).await.unwrap();
    // Every name the attacker (U1, member of W1 only) can think of: its own
    // channel, what it can read or guess about W2 (its id, in every spelling,
    // the names a hand-written trigger would use), and its own channel with
    // W2's id spliced in.
    let w2_hex = W2.replace('-', "");
    let mut names: Vec<String> = vec![
        mine.clone(),
        W2.to_string(),
        w2_hex.clone(),
        format!("cx_{}", &w2_hex[..32]),
        format!("workspace_{W2}"),
        format!("workspace:{W2}"),
        format!("support_{W2}"),
        "support".into(),
        "conversations".into(),
        "support.conversations".into(),
        "conversation_events".into(),
        "cx".into(),
    ];
    for i in 0..200 {
        names.push(format!(
            "cx_{:032x}",
            (i as u128) * 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834
        ));
    }
    let (listener, heard) = connect_listening(db).await;
    listener
        .batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .unwrap();
    for n in &names {
        listener
            .batch_execute(&format!("LISTEN \"{n}\""))
            .await
            .unwrap();
    }
    // W2's whole day: a conversation, an escalation, a claim, a message, a resolution.
    let conv = opened(&owner, W2, "W2 day").await;
    let agent = connect_app(db).await;
    for sql in [
        format!("SELECT support.escalate_conversation('{conv}')"),
        format!("SELECT support.claim_conversation('{conv}')"),
        format!("INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('{conv}', 'agent', 'hello')"),
        format!("SELECT support.resolve_conversation('{conv}')"),
    ] {
        as_user_batch(&agent, U2, &sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    assert_eq!(
        drain(&listener, &heard).await,
        vec![],
        "{} channels named",
        names.len()
    );
    // Positive control: the same listener hears its own workspace.
    let own = opened(&owner, W1, "mine").await;
    let got = drain(&listener, &heard).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, mine);
    assert!(got[0].1.contains(&own));
    println!(
        "notifications: a listener on {} names heard 0 of W2's 5 changes and 1 of its own",
        names.len()
    );
}
