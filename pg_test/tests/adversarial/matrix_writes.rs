//! Matrix writes: every write on the user's own workspaces (and, for support staff, on those they serve without being members) is allowed or refused exactly as docs/permissions.tsv says for the user's column there.

use pg_test::adversarial::session::{try_as, Identity};
use pg_test::adversarial::{setup, Report, World, MESSAGE_ROLES};
use pg_test::checksum::checksum;
use pg_test::matrix::STAFF;
use pg_test::model::matrix;
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

/// Writes on the user's own workspaces, for every workspace the user reads
/// (support staff: also those they serve without being members, the staff
/// column): each must be allowed or refused exactly as docs/permissions.tsv
/// says for the user's column there (viewers and staff who have not joined
/// write nothing, only bots post customer messages, only owners and admins
/// delete, only the author edits, only owners allow or refuse staff, only
/// staff join). Always rolled back.
pub(crate) async fn matrix_writes(
    app: &Client,
    w: &World,
    identity: &Identity,
    report: &mut Report,
) {
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
        // On Citus a message names its workspace (the shard key, the one the
        // conversation is in): Citus refuses a NULL shard key (22004) before
        // any policy runs.
        let (ws_column, ws_value) = if pg_test::citus::enabled() {
            ("workspace_id, ", format!("'{}', ", conv.workspace))
        } else {
            ("", String::new())
        };
        for role in MESSAGE_ROLES {
            probes.push((
                match role {
                    "customer" => "message.post_customer",
                    "bot" => "message.post_bot",
                    "agent" => "message.post_agent",
                    _ => "message.post_system",
                },
                format!("INSERT INTO support.conversation_messages ({ws_column}conversation_id, role, content) VALUES ({ws_value}'{cid}', '{role}', 'matrix probe') RETURNING id"),
            ));
        }
        if let Some(other) = m
            .members_of(&ws)
            .into_iter()
            .map(|(u, _)| u)
            .find(|u| u != me)
        {
            probes.push(("message.post_as_other", format!("INSERT INTO support.conversation_messages ({ws_column}conversation_id, role, author_id, content) VALUES ({ws_value}'{cid}', 'agent', '{other}', 'matrix probe') RETURNING id")));
        }
        // Staff actions: join (staff serving it without being members, and
        // members who are not staff: members who are staff are no column);
        // refuse or allow, whichever changes the workspace.
        let subject = m.subject(&ws, me).unwrap();
        if subject == STAFF || !m.staff.contains_key(me) {
            probes.push((
                "staff.join",
                format!("SELECT x.user_id FROM support.join_as_staff('{ws}') AS x"),
            ));
        }
        if m.refuses_staff.contains(&ws) {
            probes.push((
                "staff.allow",
                format!("SELECT support.set_staff_access('{ws}', true)"),
            ));
        } else {
            probes.push((
                "staff.refuse",
                format!("SELECT support.set_staff_access('{ws}', false)"),
            ));
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
                "{}: {action} in my workspace {ws} as {subject}",
                identity.label()
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
    // Support staff and the workspaces of their scope that refuse them: they
    // cannot see them, so they cannot allow staff there (the staff column of
    // staff.allow) nor join (not found, as for any workspace they cannot see).
    let Some(scope) = m.staff.get(me) else {
        return;
    };
    for ws in &m.refuses_staff {
        if m.role(ws, me).is_some() || !(scope.all_workspaces || scope.workspaces.contains(ws)) {
            continue;
        }
        for (action, sql, verdict) in [
            (
                "staff.allow",
                format!("SELECT support.set_staff_access('{ws}', true)"),
                matrix().sqlstate("staff.allow", STAFF),
            ),
            (
                "join_as_staff",
                format!("SELECT x.user_id FROM support.join_as_staff('{ws}') AS x"),
                "P0002",
            ),
        ] {
            let o = try_as(app, identity, "", &sql).await;
            report.case("matrix writes");
            if o.state != verdict {
                let line = format!(
                    "{}: {action} in {ws}, which refuses staff, as staff: expected {verdict}, the server said {}",
                    identity.label(),
                    o.describe()
                );
                if o.state == "00000" {
                    report.leak(line);
                } else {
                    report.fail(line);
                }
            }
        }
    }
}
