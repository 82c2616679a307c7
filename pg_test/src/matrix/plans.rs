//! The action-id -> SQL mapping of the permission test: for each action of
//! docs/permissions.tsv, what the subject runs, any set-up the superuser does
//! first, and the SQL that shows the specific effect of an allowed action.
use super::fixture::*;

/// How the test performs one action and recognises its effect.
pub struct Plan {
    /// Run as the superuser before the "before" checksum.
    pub setup: String,
    /// Run as the subject.
    pub sql: String,
    /// As the superuser after an allowed action: true when the specific
    /// effect is visible. `{new}` is replaced by the first column the action
    /// returned. None: a read (compared with the superuser's view instead).
    pub effect: Option<String>,
    /// For reads: the superuser's query for exactly the rows of W.
    pub read_truth: Option<String>,
}

/// Every action this test knows: must be exactly the TSV's.
pub const KNOWN: [&str; 55] = [
    "read.users",
    "read.workspaces",
    "read.workspace_members",
    "read.conversations",
    "read.conversation_messages",
    "read.conversation_events",
    "read.member_events",
    "read.conversation_reads",
    "reads.unread_counts",
    "reads.mark",
    "figures.queue",
    "figures.agents",
    "figures.sla",
    "notifications.channel",
    "search.messages",
    "search.set_config",
    "conversation.create",
    "conversation.choose_number",
    "conversation.edit_number",
    "conversation.edit_subject",
    "conversation.edit_channel",
    "conversation.delete",
    "message.post_customer",
    "message.post_bot",
    "message.post_agent",
    "message.post_system",
    "message.post_as_other",
    "message.edit_own",
    "message.edit_other",
    "message.delete",
    "lifecycle.escalate",
    "lifecycle.claim",
    "lifecycle.claim_next",
    "lifecycle.release_own",
    "lifecycle.release_other",
    "lifecycle.transfer_own",
    "lifecycle.transfer_other",
    "lifecycle.transfer_to_viewer",
    "lifecycle.transfer_to_bot",
    "lifecycle.resolve_own",
    "lifecycle.resolve_other",
    "lifecycle.resolve_active",
    "lifecycle.reopen",
    "members.add_agent",
    "members.add_owner",
    "members.demote_agent",
    "members.promote_to_owner",
    "members.demote_owner",
    "members.remove_agent",
    "members.remove_owner",
    "members.demote_last_owner",
    "members.remove_last_owner",
    "staff.join",
    "staff.refuse",
    "staff.allow",
];

/// The actions whose precondition is something the subject holds: a
/// conversation it has claimed, or a message it wrote. A subject that is not
/// a member of W holds neither (the matrix's `-`).
const NEEDS_OWN: [&str; 6] = [
    "message.edit_own",
    "lifecycle.release_own",
    "lifecycle.transfer_own",
    "lifecycle.transfer_to_viewer",
    "lifecycle.transfer_to_bot",
    "lifecycle.resolve_own",
];

/// A read: the subject's rows of `table` must be exactly the superuser's rows
/// matching `w_filter` (the rows of W), and there must be some.
fn read(table: &str, w_filter: &str) -> Plan {
    let agg = "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''), count(*)";
    Plan {
        setup: String::new(),
        sql: format!("{agg} FROM support.{table} t"),
        effect: None,
        read_truth: Some(format!("{agg} FROM support.{table} t WHERE {w_filter}")),
    }
}

/// A figures function: the subject's rows must be exactly the rows of
/// `truth` (W's figures by the rule, as the superuser computes them).
fn figures(function: &str, truth: &str) -> Plan {
    let agg = "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''), count(*)";
    Plan {
        setup: String::new(),
        sql: format!("{agg} FROM support.{function} t"),
        effect: None,
        read_truth: Some(format!("{agg} FROM ({truth}) t")),
    }
}

fn act(sql: String, effect: String) -> Plan {
    Plan {
        setup: String::new(),
        sql,
        effect: Some(effect),
        read_truth: None,
    }
}

/// A conversation event of `kind` on `conv` by the subject, with `extra` conditions.
fn event(s: &Subject, conv: &str, kind: &str, extra: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM support.conversation_events e WHERE e.conversation_id = '{conv}' \
           AND e.workspace_id = '{W}' AND e.kind = '{kind}' AND e.actor_id = '{}' {extra})",
        s.id
    )
}

/// A member event of `kind` about `user` by the subject.
fn member_event(s: &Subject, user: &str, kind: &str, extra: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM support.member_events e WHERE e.workspace_id = '{W}' AND e.user_id = '{user}' \
           AND e.kind = '{kind}' AND e.actor_id = '{}' {extra})",
        s.id
    )
}

fn conv_is(conv: &str, cond: &str) -> String {
    format!("EXISTS (SELECT 1 FROM support.conversations c WHERE c.id = '{conv}' AND {cond})")
}

fn role_is(user: &str, cond: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM support.workspace_members m WHERE m.workspace_id = '{W}' \
           AND m.user_id = '{user}' AND {cond})"
    )
}

/// A lifecycle call returning the conversation's id.
fn lifecycle(call: String, effect: String) -> Plan {
    act(format!("SELECT x.id::text FROM {call} AS x"), effect)
}

/// A membership call returning the member's user id.
fn membership(call: String, effect: String) -> Plan {
    act(format!("SELECT x.user_id::text FROM {call} AS x"), effect)
}

/// The membership of `user` in W that joined as staff, with the role of
/// their support.staff row.
fn joined_as_staff(user: &str) -> String {
    role_is(
        user,
        &format!(
            "m.joined_as_staff AND m.role = (SELECT st.role FROM support.staff st WHERE st.user_id = '{user}')"
        ),
    )
}

/// A member event of `kind` in W about the subject and by the subject.
fn own_member_event(s: &Subject, kind: &str) -> String {
    member_event(s, s.id, kind, "")
}

fn staff_access_is(allowed: bool) -> String {
    format!("EXISTS (SELECT 1 FROM support.workspaces w WHERE w.id = '{W}' AND w.staff_access = {allowed})")
}

/// What `action` is, as `s` performs it. None for an action the matrix does
/// not know, and for one whose precondition the subject cannot have (it
/// holds nothing in W: see [`NEEDS_OWN`]).
pub fn plan(action: &str, s: &Subject) -> Option<Plan> {
    if NEEDS_OWN.contains(&action) && !s.member {
        return None;
    }
    let me = s.id;
    let own = s.own_conversation;
    let msg_role = if s.name == "bot" { "bot" } else { "agent" };
    let post = |role: &str| {
        act(
            format!(
                "INSERT INTO support.conversation_messages (conversation_id, role, content) \
                 VALUES ('{C_ACTIVE}', '{role}', 'perm-posted') RETURNING id::text"
            ),
            format!(
                "EXISTS (SELECT 1 FROM support.conversation_messages m WHERE m.id = '{{new}}' \
                   AND m.workspace_id = '{W}' AND m.conversation_id = '{C_ACTIVE}' AND m.role = '{role}' \
                   AND m.author_id = '{me}' AND m.content = 'perm-posted')"
            ),
        )
    };
    let unassigned = format!(
        "{} AND EXISTS (SELECT 1 FROM support.conversation_events e WHERE e.conversation_id = '{C_G2}' \
           AND e.kind = 'unassigned' AND e.from_owner = '{G2}' AND e.to_status = 'escalated')",
        conv_is(C_G2, "c.status = 'escalated' AND c.claimed_by IS NULL")
    );
    Some(match action {
        // The users who share W, and the subject itself (for a member, one of them).
        "read.users" => read(
            "users",
            &format!(
                "(t.id IN (SELECT user_id FROM support.workspace_members WHERE workspace_id = '{W}') OR t.id = '{me}')"
            ),
        ),
        "read.workspaces" => read("workspaces", &format!("t.id = '{W}'")),
        "read.workspace_members" => read("workspace_members", &format!("t.workspace_id = '{W}'")),
        "read.conversations" => read("conversations", &format!("t.workspace_id = '{W}'")),
        "read.conversation_messages" => read("conversation_messages", &format!("t.workspace_id = '{W}'")),
        "read.conversation_events" => read("conversation_events", &format!("t.workspace_id = '{W}'")),
        "read.member_events" => read("member_events", &format!("t.workspace_id = '{W}'")),
        "read.conversation_reads" => read(
            "conversation_reads",
            &format!("t.workspace_id = '{W}' AND t.user_id = '{me}'"),
        ),
        // The rule of docs/api.md ("Read state and unread counts"), as the
        // superuser computes it: per open conversation of W, the messages
        // after the subject's position that others wrote.
        "reads.unread_counts" => {
            let agg = "SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''), count(*)";
            Plan {
                setup: String::new(),
                sql: format!("{agg} FROM support.unread_counts() t"),
                effect: None,
                read_truth: Some(format!(
                    "{agg} FROM (SELECT c.workspace_id, c.id, count(*) FROM support.conversations c \
                       JOIN support.conversation_messages m ON m.conversation_id = c.id \
                      WHERE c.workspace_id = '{W}' AND c.status <> 'resolved' AND m.author_id IS DISTINCT FROM '{me}' \
                        AND NOT EXISTS (SELECT 1 FROM support.conversation_reads r WHERE r.conversation_id = c.id \
                              AND r.user_id = '{me}' AND (m.created_at, m.id) <= (r.read_created_at, r.read_message_id)) \
                      GROUP BY c.workspace_id, c.id) t"
                )),
            }
        }
        "reads.mark" => act(
            format!("SELECT '{C_ACTIVE}' FROM support.mark_read('{C_ACTIVE}')"),
            format!(
                "EXISTS (SELECT 1 FROM support.conversation_reads r WHERE r.conversation_id = '{C_ACTIVE}' \
                   AND r.user_id = '{me}' AND (r.read_created_at, r.read_message_id) = \
                   (SELECT m.created_at, m.id FROM support.conversation_messages m WHERE m.conversation_id = '{C_ACTIVE}' \
                     ORDER BY m.created_at DESC, m.id DESC LIMIT 1))"
            ),
        ),
        // The figures of W by their rules (docs/api.md, "Queue and SLA
        // figures"), as the superuser computes them.
        "figures.queue" => figures(
            "queue_figures()",
            &format!(
                "SELECT '{W}'::uuid, count(*) FILTER (WHERE c.status = 'active'), \
                        count(*) FILTER (WHERE c.status = 'escalated'), count(*) FILTER (WHERE c.status = 'claimed'), \
                        min(c.escalated_at) FILTER (WHERE c.status = 'escalated') \
                   FROM support.conversations c WHERE c.workspace_id = '{W}'"
            ),
        ),
        "figures.agents" => figures(
            "agent_figures()",
            &format!(
                "SELECT m.workspace_id, m.user_id, \
                        (SELECT count(*) FROM support.conversations c WHERE c.workspace_id = m.workspace_id \
                            AND c.claimed_by = m.user_id AND c.status = 'claimed'), \
                        (SELECT min(c.claimed_at) FROM support.conversations c WHERE c.workspace_id = m.workspace_id \
                            AND c.claimed_by = m.user_id AND c.status = 'claimed') \
                   FROM support.workspace_members m JOIN support.users u ON u.id = m.user_id \
                  WHERE m.workspace_id = '{W}' AND u.kind = 'human' AND m.role IN ('owner', 'admin', 'agent')"
            ),
        ),
        "figures.sla" => figures(
            "sla_figures(now() - interval '1 day', now() + interval '1 day')",
            &format!(
                "SELECT '{W}'::uuid, count(*), \
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY c.first_agent_reply_at - c.created_at), \
                        percentile_cont(0.9) WITHIN GROUP (ORDER BY c.first_agent_reply_at - c.created_at), \
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY c.resolved_at - c.created_at), \
                        percentile_cont(0.9) WITHIN GROUP (ORDER BY c.resolved_at - c.created_at), \
                        (count(*) FILTER (WHERE c.reopen_count > 0))::float8 \
                          / NULLIF(count(*) FILTER (WHERE c.resolved_at IS NOT NULL OR c.reopen_count > 0), 0) \
                   FROM support.conversations c WHERE c.workspace_id = '{W}' \
                    AND c.created_at >= now() - interval '1 day' AND c.created_at < now() + interval '1 day'"
            ),
        ),
        // W's channel, as the notification triggers derive it.
        "notifications.channel" => Plan {
            setup: String::new(),
            sql: format!("SELECT support.notification_channel('{W}'), 1"),
            effect: None,
            read_truth: Some(format!("SELECT support.notification_channel_of('{W}'), 1")),
        },
        // W's messages with the word, by the rule (W's configuration is simple).
        "search.messages" => Plan {
            setup: String::new(),
            sql: "SELECT coalesce(string_agg(t.message_id::text, E'\\n' ORDER BY t.message_id::text), ''), count(*) \
                    FROM support.search_messages('written', 1000) t"
                .into(),
            effect: None,
            read_truth: Some(format!(
                "SELECT coalesce(string_agg(m.id::text, E'\\n' ORDER BY m.id::text), ''), count(*) \
                   FROM support.conversation_messages m WHERE m.workspace_id = '{W}' \
                    AND to_tsvector('simple', m.content) @@ websearch_to_tsquery('simple', 'written')"
            )),
        },
        "search.set_config" => act(
            format!("SELECT support.set_search_config('{W}', 'english')::text"),
            format!(
                "'{{new}}' = 'english' \
                 AND EXISTS (SELECT 1 FROM support.workspaces w WHERE w.id = '{W}' AND w.search_config = 'english') \
                 AND NOT EXISTS (SELECT 1 FROM support.conversation_messages m \
                                  WHERE m.workspace_id = '{W}' AND m.search_config <> 'english')"
            ),
        ),
        "conversation.create" => act(
            format!("INSERT INTO support.conversations (workspace_id, subject) VALUES ('{W}', 'perm-new') RETURNING id::text"),
            format!(
                "EXISTS (SELECT 1 FROM support.conversations c WHERE c.id = '{{new}}' AND c.workspace_id = '{W}' \
                   AND c.subject = 'perm-new' AND c.status = 'active' \
                   AND c.number = (SELECT k.last_number FROM support.conversation_counters k WHERE k.workspace_id = '{W}') \
                   AND c.number = (SELECT count(*) FROM support.conversations x WHERE x.workspace_id = '{W}')) AND {}",
                event(s, "{new}", "created", "AND e.to_status = 'active'")
            ),
        ),
        "conversation.choose_number" => act(
            format!("INSERT INTO support.conversations (workspace_id, subject, number) VALUES ('{W}', 'perm-numbered', 1000) RETURNING id::text"),
            "EXISTS (SELECT 1 FROM support.conversations c WHERE c.id = '{new}' AND c.number = 1000)".to_string(),
        ),
        "conversation.edit_number" => act(
            format!("UPDATE support.conversations SET number = 1000 WHERE id = '{C_ACTIVE}' RETURNING id::text"),
            conv_is(C_ACTIVE, "c.number = 1000"),
        ),
        "conversation.edit_subject" => act(
            format!("UPDATE support.conversations SET subject = 'perm-edited' WHERE id = '{C_ACTIVE}' RETURNING id::text"),
            conv_is(C_ACTIVE, "c.subject = 'perm-edited'"),
        ),
        "conversation.edit_channel" => act(
            format!("UPDATE support.conversations SET channel = 'email' WHERE id = '{C_ACTIVE}' RETURNING id::text"),
            conv_is(C_ACTIVE, "c.channel = 'email'"),
        ),
        "conversation.delete" => act(
            format!("DELETE FROM support.conversations WHERE id = '{C_ACTIVE}' RETURNING id::text"),
            format!(
                "NOT EXISTS (SELECT 1 FROM support.conversations WHERE id = '{C_ACTIVE}') \
                 AND NOT EXISTS (SELECT 1 FROM support.conversation_messages WHERE conversation_id = '{C_ACTIVE}') \
                 AND {} AND NOT EXISTS (SELECT 1 FROM support.conversation_events e \
                   WHERE e.conversation_id = '{C_ACTIVE}' AND e.kind = 'message_deleted')",
                event(s, C_ACTIVE, "deleted", "AND e.from_status = 'active'")
            ),
        ),
        "message.post_customer" => post("customer"),
        "message.post_bot" => post("bot"),
        "message.post_agent" => post("agent"),
        "message.post_system" => post("system"),
        "message.post_as_other" => act(
            format!(
                "INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) \
                 VALUES ('{C_ACTIVE}', '{msg_role}', '{G2}', 'perm-forged') RETURNING id::text"
            ),
            "EXISTS (SELECT 1 FROM support.conversation_messages m WHERE m.id = '{new}')".into(),
        ),
        "message.edit_own" => act(
            format!(
                "UPDATE support.conversation_messages SET content = 'perm-edited' WHERE id = '{}' RETURNING id::text",
                s.own_message
            ),
            format!(
                "EXISTS (SELECT 1 FROM support.conversation_messages m WHERE m.id = '{}' AND m.content = 'perm-edited') AND {}",
                s.own_message,
                event(s, C_ACTIVE, "message_edited", &format!("AND e.message_id = '{}'", s.own_message))
            ),
        ),
        "message.edit_other" => act(
            format!("UPDATE support.conversation_messages SET content = 'perm-edited' WHERE id = '{M_G2}' RETURNING id::text"),
            format!("EXISTS (SELECT 1 FROM support.conversation_messages m WHERE m.id = '{M_G2}' AND m.content = 'perm-edited')"),
        ),
        "message.delete" => act(
            format!("DELETE FROM support.conversation_messages WHERE id = '{M_G2}' RETURNING id::text"),
            format!(
                "NOT EXISTS (SELECT 1 FROM support.conversation_messages WHERE id = '{M_G2}') AND {}",
                event(s, C_ACTIVE, "message_deleted", &format!("AND e.message_id = '{M_G2}'"))
            ),
        ),
        "lifecycle.escalate" => lifecycle(
            format!("support.escalate_conversation('{C_ACTIVE}', 'perm-reason')"),
            format!(
                "{} AND {}",
                conv_is(C_ACTIVE, "c.status = 'escalated' AND c.escalated_at IS NOT NULL"),
                event(s, C_ACTIVE, "escalated", "AND e.reason = 'perm-reason' AND e.from_status = 'active'")
            ),
        ),
        "lifecycle.claim" | "lifecycle.claim_next" => lifecycle(
            if action == "lifecycle.claim" {
                format!("support.claim_conversation('{C_ESCALATED}')")
            } else {
                format!("support.claim_next_conversation('{W}')")
            },
            format!(
                "'{{new}}' = '{C_ESCALATED}' AND {} AND {}",
                conv_is(C_ESCALATED, &format!("c.status = 'claimed' AND c.claimed_by = '{me}'")),
                event(s, C_ESCALATED, "claimed", &format!("AND e.to_owner = '{me}' AND e.from_status = 'escalated'"))
            ),
        ),
        "lifecycle.release_own" | "lifecycle.release_other" => {
            let (conv, holder) = if action.ends_with("own") { (own, me) } else { (C_G2, G2) };
            lifecycle(
                format!("support.release_conversation('{conv}')"),
                format!(
                    "{} AND {}",
                    conv_is(conv, "c.status = 'escalated' AND c.claimed_by IS NULL"),
                    event(s, conv, "released", &format!("AND e.from_owner = '{holder}' AND e.to_owner IS NULL"))
                ),
            )
        }
        "lifecycle.transfer_own"
        | "lifecycle.transfer_other"
        | "lifecycle.transfer_to_viewer"
        | "lifecycle.transfer_to_bot" => {
            let (conv, holder, to) = match action {
                "lifecycle.transfer_own" => (own, me, G2),
                "lifecycle.transfer_other" => (C_G2, G2, O2),
                "lifecycle.transfer_to_viewer" => (own, me, V),
                _ => (own, me, B),
            };
            lifecycle(
                format!("support.transfer_conversation('{conv}', '{to}')"),
                format!(
                    "{} AND {}",
                    conv_is(conv, &format!("c.status = 'claimed' AND c.claimed_by = '{to}'")),
                    event(s, conv, "transferred", &format!("AND e.from_owner = '{holder}' AND e.to_owner = '{to}'"))
                ),
            )
        }
        "lifecycle.resolve_own" | "lifecycle.resolve_other" | "lifecycle.resolve_active" => {
            let (conv, from) = match action {
                "lifecycle.resolve_own" => (own, "claimed"),
                "lifecycle.resolve_other" => (C_G2, "claimed"),
                _ => (C_ACTIVE, "active"),
            };
            lifecycle(
                format!("support.resolve_conversation('{conv}')"),
                format!(
                    "{} AND {}",
                    conv_is(conv, "c.status = 'resolved' AND c.claimed_by IS NULL AND c.resolved_at IS NOT NULL"),
                    event(s, conv, "resolved", &format!("AND e.from_status = '{from}'"))
                ),
            )
        }
        "lifecycle.reopen" => lifecycle(
            format!("support.reopen_conversation('{C_RESOLVED}')"),
            format!(
                "{} AND {}",
                conv_is(C_RESOLVED, "c.status = 'escalated' AND c.reopen_count = 1"),
                event(s, C_RESOLVED, "reopened", "AND e.from_status = 'resolved'")
            ),
        ),
        "members.add_agent" | "members.add_owner" => {
            let role = if action.ends_with("agent") { "agent" } else { "owner" };
            membership(
                format!("support.add_member('{W}', '{N}', '{role}')"),
                format!(
                    "{} AND {}",
                    role_is(N, &format!("m.role = '{role}'")),
                    member_event(s, N, "added", &format!("AND e.to_role = '{role}'"))
                ),
            )
        }
        "members.demote_agent" | "members.promote_to_owner" | "members.demote_owner" => {
            let (user, from, to) = match action {
                "members.demote_agent" => (G2, "agent", "viewer"),
                "members.promote_to_owner" => (G2, "agent", "owner"),
                _ => (O2, "owner", "admin"),
            };
            let mut effect = format!(
                "{} AND {}",
                role_is(user, &format!("m.role = '{to}'")),
                member_event(s, user, "role_changed", &format!("AND e.from_role = '{from}' AND e.to_role = '{to}'"))
            );
            if to == "viewer" {
                effect = format!("{effect} AND {unassigned}");
            }
            membership(format!("support.set_member_role('{W}', '{user}', '{to}')"), effect)
        }
        "members.remove_agent" | "members.remove_owner" => {
            let (user, from) = if action.ends_with("agent") { (G2, "agent") } else { (O2, "owner") };
            let mut effect = format!(
                "NOT {} AND {}",
                role_is(user, "true"),
                member_event(s, user, "removed", &format!("AND e.from_role = '{from}'"))
            );
            if user == G2 {
                effect = format!("{effect} AND {unassigned}");
            }
            membership(format!("support.remove_member('{W}', '{user}')"), effect)
        }
        "members.demote_last_owner" | "members.remove_last_owner" => {
            let call = if action.contains("demote") {
                format!("support.set_member_role('{W}', '{O}', 'admin')")
            } else {
                format!("support.remove_member('{W}', '{O}')")
            };
            let mut p = membership(call, format!("NOT {}", role_is(O, "m.role = 'owner'")));
            p.setup = format!(
                "UPDATE support.workspace_members SET role = 'admin' WHERE workspace_id = '{W}' AND user_id = '{O2}'"
            );
            p
        }
        "staff.join" => membership(
            format!("support.join_as_staff('{W}')"),
            format!(
                "'{{new}}' = '{me}' AND {} AND {}",
                joined_as_staff(me),
                member_event(
                    s,
                    me,
                    "added",
                    &format!("AND e.to_role = (SELECT st.role FROM support.staff st WHERE st.user_id = '{me}')")
                )
            ),
        ),
        "staff.refuse" => {
            // S2 (staff) has joined W and holds the waiting conversation: the
            // refusal removes them, and their claim goes back to the queue.
            let mut p = act(
                format!("SELECT support.set_staff_access('{W}', false)::text"),
                format!(
                    "'{{new}}' = 'false' AND {} AND {} AND NOT {} AND {} AND {} AND EXISTS (SELECT 1 FROM \
                       support.conversation_events e WHERE e.conversation_id = '{C_ESCALATED}' AND e.kind = 'unassigned' \
                       AND e.from_owner = '{S2}' AND e.to_status = 'escalated' AND e.actor_id = '{me}')",
                    staff_access_is(false),
                    own_member_event(s, "staff_refused"),
                    role_is(S2, "true"),
                    member_event(s, S2, "removed", "AND e.from_role = 'agent'"),
                    conv_is(C_ESCALATED, "c.status = 'escalated' AND c.claimed_by IS NULL"),
                ),
            );
            p.setup = format!(
                "SET LOCAL ROLE support_app; SET LOCAL support.user_id = '{S2}'; \
                 SELECT support.join_as_staff('{W}'); SELECT support.claim_conversation('{C_ESCALATED}'); \
                 RESET ROLE; SET LOCAL support.user_id = ''; \
                 DO $$ BEGIN IF NOT {} OR NOT {} THEN RAISE 'staff.refuse: S2 did not join W and claim'; END IF; END $$;",
                joined_as_staff(S2),
                conv_is(C_ESCALATED, &format!("c.claimed_by = '{S2}'")),
            );
            p
        }
        "staff.allow" => {
            let mut p = act(
                format!("SELECT support.set_staff_access('{W}', true)::text"),
                format!(
                    "'{{new}}' = 'true' AND {} AND {}",
                    staff_access_is(true),
                    own_member_event(s, "staff_allowed")
                ),
            );
            p.setup = format!("UPDATE support.workspaces SET staff_access = false WHERE id = '{W}'");
            p
        }
        _ => return None,
    })
}
