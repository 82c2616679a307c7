//! Event replay: a conversation's status events chain from `created` (each starts where the previous ended) and end at the conversation's row.

use std::collections::BTreeMap;

use tokio_postgres::Client;

/// (status, owner) of a conversation, as an event's from/to or its row.
type State = (Option<String>, Option<String>);

/// Which transitions [`replay`] accepts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rules {
    /// Any change, but a claimed conversation returns to the queue only by a
    /// `released` or `unassigned` event (rows may also be written directly).
    Chain,
    /// Only what the lifecycle functions do: each kind is its one transition
    /// of the state machine (created -> escalated/active, claimed by nobody,
    /// transferred to another owner, ...).
    Lifecycle,
}

/// Replays the status events of conversation `conv` (None: of every
/// conversation) and returns the number of events replayed, or what broke.
pub async fn replay(c: &Client, conv: Option<&str>, rules: Rules) -> Result<usize, String> {
    let rows = c
        .query(
            "SELECT c.id::text, c.status, c.claimed_by::text, e.kind, e.from_status, e.to_status, \
                    e.from_owner::text, e.to_owner::text \
               FROM support.conversations c \
               LEFT JOIN support.conversation_events e ON e.workspace_id = c.workspace_id AND e.conversation_id = c.id \
                     AND e.kind NOT IN ('message_edited', 'message_deleted') \
              WHERE $1::text IS NULL OR c.id = $1::text::uuid \
              ORDER BY c.id, e.created_at, e.id",
            &[&conv],
        )
        .await
        .map_err(|e| format!("replay: {e}"))?;
    if conv.is_some() && rows.is_empty() {
        return Err(format!("replay: no conversation {conv:?}"));
    }
    let mut at: BTreeMap<String, (State, usize)> = BTreeMap::new();
    let mut rows_now: BTreeMap<String, State> = BTreeMap::new();
    let mut events = 0;
    for r in &rows {
        let id: String = r.get(0);
        rows_now.insert(id.clone(), (Some(r.get(1)), r.get(2)));
        let (state, n) = at.entry(id.clone()).or_insert(((None, None), 0));
        let Some(kind) = r.get::<_, Option<String>>(3) else {
            return Err(format!("{id}: no events at all"));
        };
        let from: State = (r.get(4), r.get(6));
        let to: State = (r.get(5), r.get(7));
        if *n == 0 && kind != "created" {
            return Err(format!("{id}: first event is {kind}"));
        }
        if from != *state {
            return Err(format!(
                "{id}: event {n} ({kind}) starts at {from:?}, the chain is at {state:?}"
            ));
        }
        if !allowed(rules, &kind, &from, &to) {
            return Err(format!(
                "{id}: event {kind} is not a legal transition: {from:?} -> {to:?}"
            ));
        }
        *state = to;
        *n += 1;
        events += 1;
    }
    for (id, (end, _)) in &at {
        if Some(end) != rows_now.get(id) {
            return Err(format!(
                "{id}: events end at {end:?}, the row is {:?}",
                rows_now[id]
            ));
        }
    }
    Ok(events)
}

fn allowed(rules: Rules, kind: &str, from: &State, to: &State) -> bool {
    let fs = from.0.as_deref().unwrap_or("");
    let ts = to.0.as_deref().unwrap_or("");
    let to_queue = fs == "claimed" && ts == "escalated";
    match rules {
        Rules::Chain => !to_queue || kind == "released" || kind == "unassigned",
        Rules::Lifecycle => match kind {
            "created" => fs.is_empty() && (ts == "escalated" || ts == "active"),
            "escalated" => fs == "active" && ts == "escalated",
            "claimed" => fs == "escalated" && ts == "claimed" && from.1.is_none() && to.1.is_some(),
            "released" | "unassigned" => to_queue && to.1.is_none(),
            "transferred" => fs == "claimed" && ts == "claimed" && to.1.is_some() && from.1 != to.1,
            "resolved" => (fs == "claimed" || fs == "active") && ts == "resolved" && to.1.is_none(),
            "reopened" => fs == "resolved" && ts == "escalated",
            _ => false,
        },
    }
}
