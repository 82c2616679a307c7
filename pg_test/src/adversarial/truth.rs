//! The adversarial world as the superuser sees it, compared with the reference model row by row and event by event.

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use super::Report;
use crate::model::{Event, Model};

/// The database as the superuser sees it, checked against the model, with
/// each row's full text for exact comparisons.
pub struct Truth {
    pub conversation: BTreeMap<String, String>,
    pub message: BTreeMap<String, String>,
    /// Indexed like `model.events`.
    pub event: Vec<String>,
    pub workspace: BTreeMap<String, String>,
    pub member: BTreeMap<(String, String), String>,
    pub user: BTreeMap<String, String>,
    /// Every membership event: (workspace, full row text). Not modelled
    /// event by event: read paths check that each user sees exactly those of
    /// their workspaces.
    pub member_event: Vec<(String, String)>,
}

pub async fn verify_model(owner: &Client, model: &Model, report: &mut Report) -> Truth {
    let mut truth = Truth {
        conversation: BTreeMap::new(),
        message: BTreeMap::new(),
        event: vec![String::new(); model.events.len()],
        workspace: BTreeMap::new(),
        member: BTreeMap::new(),
        user: BTreeMap::new(),
        member_event: Vec::new(),
    };
    let mut mismatches = Vec::new();

    let rows = owner
        .query(
            "SELECT id::text, workspace_id::text, status, claimed_by::text, bot_user_id::text, channel, \
                    subject, reopen_count, c::text FROM support.conversations c",
            &[],
        )
        .await
        .unwrap();
    for r in &rows {
        let id: String = r.get(0);
        match model.conversations.get(&id).filter(|c| !c.deleted) {
            None => mismatches.push(format!("conversation {id} is not in the model")),
            Some(c) => {
                let db = (
                    r.get::<_, String>(1),
                    r.get::<_, String>(2),
                    r.get::<_, Option<String>>(3),
                    r.get::<_, Option<String>>(4),
                    r.get::<_, String>(5),
                    r.get::<_, String>(6),
                    r.get::<_, i32>(7),
                );
                let m = (
                    c.workspace.clone(),
                    c.status.to_string(),
                    c.claimed_by.clone(),
                    c.bot.clone(),
                    c.channel.to_string(),
                    c.subject.clone(),
                    c.reopen_count,
                );
                if db != m {
                    mismatches.push(format!("conversation {id}: db {db:?} model {m:?}"));
                }
            }
        }
        truth.conversation.insert(id, r.get(8));
    }
    if truth.conversation.len() != model.live_conversations().count() {
        mismatches.push(format!(
            "{} conversations in the database, {} in the model",
            truth.conversation.len(),
            model.live_conversations().count()
        ));
    }

    for r in owner
        .query(
            "SELECT id::text, workspace_id::text, conversation_id::text, role, author_id::text, content, m::text \
               FROM support.conversation_messages m",
            &[],
        )
        .await
        .unwrap()
    {
        let id: String = r.get(0);
        match model.messages.get(&id).filter(|m| !m.deleted) {
            None => mismatches.push(format!("message {id} is not in the model")),
            Some(m) => {
                let db = (
                    r.get::<_, String>(1),
                    r.get::<_, String>(2),
                    r.get::<_, String>(3),
                    r.get::<_, Option<String>>(4),
                    r.get::<_, String>(5),
                );
                let mm = (
                    m.workspace.clone(),
                    m.conversation.clone(),
                    m.role.to_string(),
                    m.author.clone(),
                    m.content.clone(),
                );
                if db != mm {
                    mismatches.push(format!("message {id}: db {db:?} model {mm:?}"));
                }
            }
        }
        truth.message.insert(id, r.get(6));
    }
    if truth.message.len() != model.messages.values().filter(|m| !m.deleted).count() {
        mismatches.push("message count differs".into());
    }

    // Events: per conversation, in the order they happened.
    let mut db_events: BTreeMap<String, Vec<(Event, String)>> = BTreeMap::new();
    for r in owner
        .query(
            "SELECT workspace_id::text, conversation_id::text, kind, from_status, to_status, from_owner::text, \
                    to_owner::text, actor_id::text, reason, e::text \
               FROM support.conversation_events e ORDER BY created_at, id",
            &[],
        )
        .await
        .unwrap()
    {
        let e = Event {
            workspace: r.get(0),
            conversation: r.get(1),
            kind: r.get(2),
            from_status: r.get(3),
            to_status: r.get(4),
            from_owner: r.get(5),
            to_owner: r.get(6),
            actor: r.get(7),
            reason: r.get(8),
        };
        db_events
            .entry(e.conversation.clone())
            .or_default()
            .push((e, r.get(9)));
    }
    let mut model_events: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, e) in model.events.iter().enumerate() {
        model_events
            .entry(e.conversation.clone())
            .or_default()
            .push(i);
    }
    let convs: BTreeSet<&String> = db_events.keys().chain(model_events.keys()).collect();
    for c in convs {
        let db = db_events.get(c).cloned().unwrap_or_default();
        let m = model_events.get(c).cloned().unwrap_or_default();
        if db.len() != m.len() || db.iter().zip(&m).any(|((e, _), &i)| *e != model.events[i]) {
            mismatches.push(format!(
                "events of {c}: db {:?} model {:?}",
                db.iter().map(|(e, _)| e).collect::<Vec<_>>(),
                m.iter().map(|&i| &model.events[i]).collect::<Vec<_>>()
            ));
            continue;
        }
        for ((_, text), &i) in db.iter().zip(&m) {
            truth.event[i] = text.clone();
        }
    }

    for r in owner
        .query(
            "SELECT id::text, name, w::text, staff_access FROM support.workspaces w",
            &[],
        )
        .await
        .unwrap()
    {
        let id: String = r.get(0);
        if model.workspaces.get(&id) != Some(&r.get::<_, String>(1)) {
            mismatches.push(format!("workspace {id}"));
        }
        if r.get::<_, bool>(3) == model.refuses_staff.contains(&id) {
            mismatches.push(format!(
                "workspace {id}: staff_access {}, the model {}",
                r.get::<_, bool>(3),
                !model.refuses_staff.contains(&id)
            ));
        }
        truth.workspace.insert(id, r.get(2));
    }
    for r in owner
        .query(
            "SELECT workspace_id::text, user_id::text, role, m::text, joined_as_staff FROM support.workspace_members m",
            &[],
        )
        .await
        .unwrap()
    {
        let key: (String, String) = (r.get(0), r.get(1));
        if model.members.get(&key).map(|r| r.as_str()) != Some(r.get::<_, &str>(2)) {
            mismatches.push(format!("membership {key:?}"));
        }
        if r.get::<_, bool>(4) != model.joined_as_staff.contains(&key) {
            mismatches.push(format!("membership {key:?}: joined_as_staff {}", r.get::<_, bool>(4)));
        }
        truth.member.insert(key, r.get(3));
    }
    // Support staff and their configured workspaces.
    let mut db_staff = Vec::new();
    for r in owner
        .query(
            "SELECT s.user_id::text, s.role, s.all_workspaces, \
                    coalesce(array_agg(sw.workspace_id::text ORDER BY sw.workspace_id::text) \
                             FILTER (WHERE sw.workspace_id IS NOT NULL), '{}') \
               FROM support.staff s LEFT JOIN support.staff_workspaces sw ON sw.user_id = s.user_id \
              GROUP BY 1, 2, 3 ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
    {
        db_staff.push(format!(
            "{} {} {} {:?}",
            r.get::<_, String>(0),
            r.get::<_, String>(1),
            r.get::<_, bool>(2),
            r.get::<_, Vec<String>>(3)
        ));
    }
    let model_staff: Vec<String> = model
        .staff
        .iter()
        .map(|(u, s)| {
            format!(
                "{u} {} {} {:?}",
                s.role.as_str(),
                s.all_workspaces,
                s.workspaces.iter().collect::<Vec<_>>()
            )
        })
        .collect();
    if db_staff != model_staff {
        mismatches.push(format!(
            "support staff: db {db_staff:?} model {model_staff:?}"
        ));
    }
    if truth.member.len() != model.members.len() {
        mismatches.push("membership count differs".into());
    }
    for r in owner
        .query("SELECT id::text, u::text FROM support.users u", &[])
        .await
        .unwrap()
    {
        truth.user.insert(r.get(0), r.get(1));
    }
    for r in owner
        .query(
            "SELECT workspace_id::text, e::text FROM support.member_events e",
            &[],
        )
        .await
        .unwrap()
    {
        truth.member_event.push((r.get(0), r.get(1)));
    }
    if truth.user.len() != model.users.len() {
        mismatches.push("user count differs".into());
    }
    report.case("model = database");
    assert!(
        mismatches.is_empty(),
        "the database disagrees with the reference model:\n{}",
        mismatches.join("\n")
    );
    truth
}
