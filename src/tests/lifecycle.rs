//! The lifecycle functions: every legal transition, every illegal one, the
//! owner-only and role rules, the audit trail and its RLS.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::*;

    fn call(f: &str, args: &str) -> String {
        sqlstate(&format!("SELECT support.{f}({args})"))
    }

    fn state(id: &str) -> String {
        value::<String>(&format!(
            "SELECT status || '/' || coalesce(claimed_by::text, '-') FROM support.conversations WHERE id = '{id}'"
        ))
        .unwrap_or_else(|| "missing".into())
    }

    /// The event log of a conversation, oldest first: "kind from>to owner>owner actor reason".
    fn events(id: &str) -> Vec<String> {
        value::<Vec<String>>(&format!(
            "SELECT coalesce(array_agg(kind || ' ' || coalesce(from_status, '-') || '>' || coalesce(to_status, '-') \
                 || ' ' || coalesce(left(from_owner::text, 2), '-') || '>' || coalesce(left(to_owner::text, 2), '-') \
                 || ' ' || coalesce(left(actor_id::text, 2), '-') || coalesce(' ' || reason, '') \
                 ORDER BY created_at, id), '{{}}') \
               FROM support.conversation_events WHERE conversation_id = '{id}'"
        ))
        .unwrap_or_default()
    }

    #[pg_test]
    fn every_legal_transition_and_its_event() {
        fixture();
        // active -> escalated (the bot hands off, with a reason)
        as_user(B1);
        assert_eq!(
            call(
                "escalate_conversation",
                &format!("'{C1}', 'customer asked for a human'")
            ),
            "00000"
        );
        assert_eq!(state(C1), "escalated/-");
        // escalated -> claimed
        as_user(U1);
        assert_eq!(call("claim_conversation", &format!("'{C1}'")), "00000");
        assert_eq!(state(C1), format!("claimed/{U1}"));
        // claimed -> escalated (release keeps the original wait time)
        let waited_since = value::<String>(&format!(
            "SELECT escalated_at::text FROM support.conversations WHERE id = '{C1}'"
        ));
        assert_eq!(call("release_conversation", &format!("'{C1}'")), "00000");
        assert_eq!(state(C1), "escalated/-");
        assert_eq!(
            value::<String>(&format!(
                "SELECT escalated_at::text FROM support.conversations WHERE id = '{C1}'"
            )),
            waited_since
        );
        // claim_next takes the oldest waiting one: C3 waited longer.
        as_owner();
        run(&format!("UPDATE support.conversations SET escalated_at = now() - interval '1 hour' WHERE id = '{C3}'"));
        as_user(A1);
        assert_eq!(
            value::<String>(&format!(
                "SELECT id::text FROM support.claim_next_conversation('{W1}')"
            ))
            .as_deref(),
            Some(C3)
        );
        assert_eq!(
            value::<String>(&format!(
                "SELECT id::text FROM support.claim_next_conversation('{W1}')"
            ))
            .as_deref(),
            Some(C1)
        );
        // Queue empty: NULL.
        assert_eq!(
            value::<bool>(&format!(
                "SELECT support.claim_next_conversation('{W1}') IS NULL"
            )),
            Some(true)
        );
        // claimed -> claimed by another member (transfer)
        assert_eq!(
            call("transfer_conversation", &format!("'{C1}', '{U1}'")),
            "00000"
        );
        assert_eq!(state(C1), format!("claimed/{U1}"));
        // claimed -> resolved (by the owner)
        as_user(U1);
        assert_eq!(call("resolve_conversation", &format!("'{C1}'")), "00000");
        assert_eq!(state(C1), "resolved/-");
        // resolved -> escalated (reopen): new wait clock, count + 1
        assert_eq!(call("reopen_conversation", &format!("'{C1}'")), "00000");
        assert_eq!(
            value::<String>(&format!(
                "SELECT status || ' ' || reopen_count || ' ' || (resolved_at IS NULL) || ' ' || (escalated_at = now()) \
                   FROM support.conversations WHERE id = '{C1}'"
            ))
            .as_deref(),
            Some("escalated 1 true true")
        );
        // active -> resolved (a bot conversation closed without a human)
        as_user(U2);
        assert_eq!(call("resolve_conversation", &format!("'{C2}'")), "00000");
        assert_eq!(state(C2), "resolved/-");

        // The audit trail, oldest first; owners and actors by their first two characters.
        as_owner();
        assert_eq!(
            events(C1),
            vec![
                "created ->active ->- -".to_string(),
                "escalated active>escalated ->- c1 customer asked for a human".into(),
                "claimed escalated>claimed ->b1 b1".into(),
                "released claimed>escalated b1>- b1".into(),
                "claimed escalated>claimed ->b3 b3".into(),
                "transferred claimed>claimed b3>b1 b3".into(),
                "resolved claimed>resolved b1>- b1".into(),
                "reopened resolved>escalated ->- b1".into(),
            ]
        );
        assert_eq!(
            events(C2),
            vec![
                "created ->active ->- -".to_string(),
                "resolved active>resolved ->- b2".into()
            ]
        );
    }

    #[pg_test]
    fn illegal_transitions_are_rejected_with_55000() {
        fixture();
        as_user(U1);
        // C3 is escalated.
        assert_eq!(call("escalate_conversation", &format!("'{C3}'")), "55000");
        assert_eq!(call("release_conversation", &format!("'{C3}'")), "55000");
        assert_eq!(
            call("transfer_conversation", &format!("'{C3}', '{A1}'")),
            "55000"
        );
        assert_eq!(call("resolve_conversation", &format!("'{C3}'")), "55000");
        assert_eq!(call("reopen_conversation", &format!("'{C3}'")), "55000");
        let msg =
            error_of(&format!("SELECT support.reopen_conversation('{C3}')")).unwrap_or_default();
        assert!(
            msg.contains("is escalated") && msg.contains("cannot reopen"),
            "{msg}"
        );
        // C1 is active.
        assert_eq!(call("claim_conversation", &format!("'{C1}'")), "55000");
        assert_eq!(call("reopen_conversation", &format!("'{C1}'")), "55000");
        assert_eq!(call("release_conversation", &format!("'{C1}'")), "55000");
        // Resolved: only reopen.
        assert_eq!(call("resolve_conversation", &format!("'{C1}'")), "00000");
        assert_eq!(call("resolve_conversation", &format!("'{C1}'")), "55000");
        assert_eq!(call("claim_conversation", &format!("'{C1}'")), "55000");
        assert_eq!(call("escalate_conversation", &format!("'{C1}'")), "55000");
        // A status outside the closed set is still the CHECK's 23514.
        as_owner();
        assert_eq!(
            sqlstate(&format!(
                "UPDATE support.conversations SET status = 'snoozed' WHERE id = '{C3}'"
            )),
            "23514"
        );
        // Nothing moved: C3 still escalated, C1 resolved.
        assert_eq!(state(C3), "escalated/-");
        assert_eq!(state(C1), "resolved/-");
    }

    #[pg_test]
    fn owner_only_and_role_rules() {
        fixture();
        as_user(U1);
        assert_eq!(call("claim_conversation", &format!("'{C3}'")), "00000");
        // Another agent may not release, transfer or resolve U1's conversation.
        as_user(A1);
        assert_eq!(call("release_conversation", &format!("'{C3}'")), "42501");
        assert_eq!(
            call("transfer_conversation", &format!("'{C3}', '{A1}'")),
            "42501"
        );
        assert_eq!(call("resolve_conversation", &format!("'{C3}'")), "42501");
        // Transfer targets: a viewer cannot own; a non-member (other workspace, or nobody) is 22023.
        as_user(U1);
        assert_eq!(
            call("transfer_conversation", &format!("'{C3}', '{V1}'")),
            "42501"
        );
        assert_eq!(
            call("transfer_conversation", &format!("'{C3}', '{U2}'")),
            "22023"
        );
        assert_eq!(
            error_of(&format!(
                "SELECT support.transfer_conversation('{C3}', '{U2}')"
            ))
            .map(|e| e.replace(U2, "<id>")),
            error_of(&format!(
                "SELECT support.transfer_conversation('{C3}', '{NOWHERE}')"
            ))
            .map(|e| e.replace(NOWHERE, "<id>"))
        );
        // A viewer reads only.
        as_user(V1);
        assert_eq!(
            count("SELECT 1 FROM support.conversations"),
            2,
            "a viewer still sees W1"
        );
        assert_eq!(call("claim_next_conversation", &format!("'{W1}'")), "42501");
        assert_eq!(call("resolve_conversation", &format!("'{C1}'")), "42501");
        as_owner();
        run(&format!("UPDATE support.conversations SET status = 'escalated', escalated_at = now() WHERE id = '{C1}'"));
        as_user(V1);
        assert_eq!(call("claim_conversation", &format!("'{C1}'")), "42501");
        // Other workspace: not found, for the queue too.
        as_user(U2);
        assert_eq!(call("release_conversation", &format!("'{C3}'")), "P0002");
        assert_eq!(call("claim_next_conversation", &format!("'{W1}'")), "P0002");
        assert_eq!(
            error_of(&format!("SELECT support.claim_next_conversation('{W1}')"))
                .map(|e| e.replace(W1, "<id>")),
            error_of(&format!(
                "SELECT support.claim_next_conversation('{NOWHERE}')"
            ))
            .map(|e| e.replace(NOWHERE, "<id>"))
        );
        // Positive control: the owner does transfer, then the new owner resolves.
        as_user(U1);
        assert_eq!(
            call("transfer_conversation", &format!("'{C3}', '{A1}'")),
            "00000"
        );
        as_user(A1);
        assert_eq!(call("resolve_conversation", &format!("'{C3}'")), "00000");
        as_owner();
        assert_eq!(state(C3), "resolved/-");
    }

    #[pg_test]
    fn events_are_written_for_every_path() {
        fixture();
        as_user(U1);
        assert_eq!(call("claim_conversation", &format!("'{C3}'")), "00000");
        // A foreign-key action: deleting the agent unassigns and requeues.
        as_owner();
        run(&format!("DELETE FROM support.users WHERE id = '{U1}'"));
        assert_eq!(state(C3), "escalated/-");
        let log = events(C3);
        assert_eq!(
            log.last().map(String::as_str),
            Some("unassigned claimed>escalated b1>- -"),
            "{log:?}"
        );
        // The deleted user's id stays in the events that name it.
        assert_eq!(count(&format!("SELECT 1 FROM support.conversation_events WHERE actor_id = '{U1}' OR to_owner = '{U1}'")), 1);
        // A direct UPDATE by the table owner is recorded too.
        run(&format!("UPDATE support.conversations SET status = 'resolved', resolved_at = now() WHERE id = '{C3}'"));
        assert_eq!(
            events(C3).last().map(String::as_str),
            Some("resolved escalated>resolved ->- -")
        );
        // Deleting a conversation is recorded and its events remain.
        run(&format!(
            "DELETE FROM support.conversations WHERE id = '{C3}'"
        ));
        let log = events(C3);
        assert_eq!(log.len(), 5, "{log:?}");
        assert_eq!(
            log.last().map(String::as_str),
            Some("deleted resolved>- ->- -")
        );
        // A change that is neither state nor owner writes nothing.
        let before = count("SELECT 1 FROM support.conversation_events");
        run(&format!(
            "UPDATE support.conversations SET subject = 'x' WHERE id = '{C1}'"
        ));
        assert_eq!(count("SELECT 1 FROM support.conversation_events"), before);
    }

    #[pg_test]
    fn events_are_read_only_and_isolated() {
        fixture();
        as_user(U1);
        assert_eq!(call("claim_conversation", &format!("'{C3}'")), "00000");
        as_user(U2);
        assert_eq!(call("claim_conversation", &format!("'{C4}'")), "00000");
        as_user(U1);
        assert_eq!(
            texts("SELECT DISTINCT workspace_id FROM support.conversation_events"),
            ids(&[W1])
        );
        assert_eq!(
            count(&format!(
                "SELECT 1 FROM support.conversation_events WHERE conversation_id = '{C4}'"
            )),
            0
        );
        // Positive control: U2 sees W2's claim event.
        as_user(U2);
        assert_eq!(
            count(&format!("SELECT 1 FROM support.conversation_events WHERE conversation_id = '{C4}' AND kind = 'claimed'")),
            1
        );
        assert_eq!(
            texts("SELECT DISTINCT workspace_id FROM support.conversation_events"),
            ids(&[W2])
        );
        // Append-only for application roles; the internal context is not theirs either.
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversation_events (workspace_id, conversation_id, kind) VALUES ('{W2}', '{C4}', 'resolved')"
            )),
            "42501"
        );
        assert_eq!(
            sqlstate("UPDATE support.conversation_events SET reason = 'x'"),
            "42501"
        );
        assert_eq!(sqlstate("DELETE FROM support.conversation_events"), "42501");
        assert_eq!(
            sqlstate(&format!("SELECT support.lifecycle_pending('{C4}')")),
            "42501"
        );
        as_owner();
        assert_eq!(
            count(
                "SELECT 1 FROM support.conversation_events WHERE reason = 'x' OR kind = 'resolved'"
            ),
            0
        );
    }

    #[pg_test]
    fn queue_timestamps() {
        fixture();
        // A customer message does not count; the first agent message after escalation does.
        run(&format!("INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('{C3}', 'customer', 'hi')"));
        as_user(U1);
        assert_eq!(
            value::<bool>(&format!(
                "SELECT first_agent_reply_at IS NULL FROM support.conversations WHERE id = '{C3}'"
            )),
            Some(true)
        );
        run(&format!(
            "INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) VALUES ('{C3}', 'agent', '{U1}', 'on it')"
        ));
        assert_eq!(
            value::<bool>(&format!(
                "SELECT first_agent_reply_at = now() FROM support.conversations WHERE id = '{C3}'"
            )),
            Some(true)
        );
        // Not before escalation: C1 is active.
        run(&format!(
            "INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) VALUES ('{C1}', 'agent', '{U1}', 'early')"
        ));
        assert_eq!(
            value::<bool>(&format!(
                "SELECT first_agent_reply_at IS NULL FROM support.conversations WHERE id = '{C1}'"
            )),
            Some(true)
        );
        // Application roles cannot forge them.
        run("SELECT 1");
        assert_eq!(
            sqlstate(&format!(
                "UPDATE support.conversations SET first_agent_reply_at = NULL WHERE id = '{C3}'"
            )),
            "42501"
        );
        assert_eq!(
            sqlstate(&format!(
                "UPDATE support.conversations SET reopen_count = 0 WHERE id = '{C3}'"
            )),
            "42501"
        );
        // Only a real agent message sets first_agent_reply_at: an `agent`
        // message the table owner stores without an author, or with a bot or
        // a viewer as author, does not; a human agent's does.
        as_owner();
        run(&format!(
            "UPDATE support.conversations SET first_agent_reply_at = NULL WHERE id = '{C3}'"
        ));
        for author in ["NULL".to_string(), format!("'{B1}'"), format!("'{V1}'")] {
            run(&format!(
                "INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) \
                 VALUES ('{C3}', 'agent', {author}, 'not a real agent reply')"
            ));
            assert_eq!(
                value::<bool>(&format!(
                    "SELECT first_agent_reply_at IS NULL FROM support.conversations WHERE id = '{C3}'"
                )),
                Some(true),
                "author {author}"
            );
        }
        run(&format!(
            "INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) \
             VALUES ('{C3}', 'agent', '{A1}', 'a real one')"
        ));
        assert_eq!(
            value::<bool>(&format!(
                "SELECT first_agent_reply_at IS NOT NULL FROM support.conversations WHERE id = '{C3}'"
            )),
            Some(true),
            "positive control: a human agent's message sets it"
        );
        // "Oldest waiting in W" is an index scan on the queue index.
        as_owner();
        run("SET LOCAL enable_seqscan = off");
        let plan = value::<String>(&format!(
            "SELECT string_agg(line, E'\\n') FROM (SELECT \"QUERY PLAN\" AS line FROM tests.explain_of($$ \
               SELECT id FROM support.conversations WHERE workspace_id = '{W1}' AND status = 'escalated' \
               ORDER BY escalated_at, id LIMIT 1 $$)) p"
        ))
        .unwrap_or_default();
        assert!(
            plan.contains("conversations_queue_idx") && !plan.contains("Sort"),
            "{plan}"
        );
    }
}
