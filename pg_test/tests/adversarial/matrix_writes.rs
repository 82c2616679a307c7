//! Matrix writes: every write on the user's own workspaces is allowed or refused exactly as docs/permissions.tsv says for the user's role there.

use pg_test::adversarial::session::{try_as, Identity};
use pg_test::adversarial::{setup, Report, World, MESSAGE_ROLES};
use pg_test::checksum::checksum;
use tokio_postgres::Client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_workspace_writes_follow_the_permission_matrix() {
    let mut s = setup("matrix_writes").await;
    for identity in &s.identities {
        matrix_writes(&s.app, &s.w, identity, &mut s.report).await;
    }
    assert_eq!(
        checksum(&s.owner).await,
        s.baseline,
        "matrix writes are rolled back"
    );
    println!(
        "adversarial matrix_writes: {} writes on the users' own workspaces as docs/permissions.tsv says",
        s.report.by_area.get("matrix writes").copied().unwrap_or(0),
    );
    s.finish();
}

/// Writes on the user's own workspaces, for every workspace the user is in:
/// each must be allowed or refused exactly as docs/permissions.tsv says for
/// the user's role there (viewers write nothing, only bots post customer
/// messages, only owners and admins delete, only the author edits). Always
/// rolled back.
async fn matrix_writes(app: &Client, w: &World, identity: &Identity, report: &mut Report) {
    let Some(me) = identity.user() else {
        return;
    };
    let m = &w.model;
    for ws in m.workspaces_of(Some(me)) {
        let Some(conv) = m.live_conversations().find(|c| c.workspace == ws) else {
            continue;
        };
        let cid = &conv.id;
        let mut probes: Vec<(&str, String)> = vec![
            ("conversation.create", format!("INSERT INTO support.conversations (workspace_id, subject) VALUES ('{ws}', 'matrix probe') RETURNING id")),
            ("conversation.edit_subject", format!("UPDATE support.conversations SET subject = 'matrix probe' WHERE id = '{cid}'")),
            ("conversation.edit_channel", format!("UPDATE support.conversations SET channel = 'voice' WHERE id = '{cid}'")),
            ("conversation.delete", format!("DELETE FROM support.conversations WHERE id = '{cid}'")),
        ];
        for role in MESSAGE_ROLES {
            probes.push((
                match role {
                    "customer" => "message.post_customer",
                    "bot" => "message.post_bot",
                    "agent" => "message.post_agent",
                    _ => "message.post_system",
                },
                format!("INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('{cid}', '{role}', 'matrix probe') RETURNING id"),
            ));
        }
        if let Some(other) = m
            .members_of(&ws)
            .into_iter()
            .map(|(u, _)| u)
            .find(|u| u != me)
        {
            probes.push(("message.post_as_other", format!("INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) VALUES ('{cid}', 'agent', '{other}', 'matrix probe') RETURNING id")));
        }
        if let Some(msg) = m.live_messages().find(|x| x.workspace == ws) {
            let edit = if msg.author.as_deref() == Some(me) {
                "message.edit_own"
            } else {
                "message.edit_other"
            };
            probes.push((edit, format!("UPDATE support.conversation_messages SET content = 'matrix probe' WHERE id = '{}'", msg.id)));
            probes.push((
                "message.delete",
                format!(
                    "DELETE FROM support.conversation_messages WHERE id = '{}'",
                    msg.id
                ),
            ));
        }
        for (action, sql) in probes {
            let verdict = m.verdict(&ws, me, action).unwrap();
            let o = try_as(app, identity, "", &sql).await;
            report.case("matrix writes");
            let label = format!(
                "{}: {action} in my workspace {ws} as {}",
                identity.label(),
                m.subject(&ws, me).unwrap()
            );
            if verdict == "00000" && !(o.state == "00000" && o.rows >= 1) {
                report.fail(format!(
                    "{label}: docs/permissions.tsv allows it, the server said {}",
                    o.describe()
                ));
            } else if verdict != "00000" && o.state != verdict {
                report.leak(format!(
                    "{label}: docs/permissions.tsv says {verdict}, the server said {}",
                    o.describe()
                ));
            }
        }
    }
}
