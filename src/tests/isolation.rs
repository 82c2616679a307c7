//! Tenant isolation: what a member of W1 can read and write, and what not,
//! always with the positive control (the member of W2 does see W2's rows).

#[pgrx::pg_schema]
mod tests {
    use crate::tests::*;

    #[pg_test]
    fn members_read_only_their_workspace() {
        fixture();
        as_user(U1);
        assert_eq!(
            texts("SELECT id FROM support.conversations"),
            ids(&[C1, C3])
        );
        assert_eq!(
            count(&format!(
                "SELECT 1 FROM support.conversations WHERE id = '{C2}'"
            )),
            0
        );
        assert_eq!(
            count(&format!(
                "SELECT 1 FROM support.conversation_messages WHERE conversation_id = '{C1}'"
            )),
            2
        );
        assert_eq!(
            count(&format!(
                "SELECT 1 FROM support.conversation_messages WHERE conversation_id = '{C2}'"
            )),
            0
        );
        assert_eq!(
            texts("SELECT DISTINCT workspace_id FROM support.conversation_messages"),
            ids(&[W1])
        );
        assert_eq!(texts("SELECT id FROM support.workspaces"), ids(&[W1]));
        assert_eq!(
            texts("SELECT DISTINCT workspace_id FROM support.workspace_members"),
            ids(&[W1])
        );
        assert_eq!(
            texts("SELECT id FROM support.users"),
            ids(&[U1, A1, V1, B1])
        );

        // Positive control: U2 sees C2 (and C4) and C2's message.
        as_user(U2);
        assert_eq!(
            texts("SELECT id FROM support.conversations"),
            ids(&[C2, C4])
        );
        assert_eq!(
            texts(&format!(
                "SELECT content FROM support.conversation_messages WHERE conversation_id = '{C2}'"
            )),
            vec!["hello from c2".to_string()]
        );
        assert_eq!(texts("SELECT id FROM support.users"), ids(&[U2, B2]));

        // A user in no workspace sees only themselves.
        as_user(X);
        assert_eq!(count("SELECT 1 FROM support.conversations"), 0);
        assert_eq!(count("SELECT 1 FROM support.conversation_messages"), 0);
        assert_eq!(texts("SELECT id FROM support.users"), ids(&[X]));
    }

    /// Everything an owner can see of C2 and W2, to prove "unchanged".
    fn w2_snapshot() -> String {
        as_owner();
        value::<String>(
            "SELECT md5(coalesce(string_agg(t, '|' ORDER BY t), '')) FROM ( \
               SELECT c::text AS t FROM support.conversations c WHERE workspace_id = 'a2000000-0000-4000-8000-000000000002' \
               UNION ALL SELECT m::text FROM support.conversation_messages m WHERE workspace_id = 'a2000000-0000-4000-8000-000000000002') q",
        )
        .unwrap_or_default()
    }

    #[pg_test]
    fn cross_workspace_writes_are_rejected() {
        fixture();
        let before = w2_snapshot();
        let w1_before = count(&format!(
            "SELECT 1 FROM support.conversations WHERE workspace_id = '{W1}'"
        ));

        as_user(U1);
        // Open a conversation in W2: the WITH CHECK policy refuses it.
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversations (workspace_id, subject) VALUES ('{W2}', 'x')"
            )),
            "42501"
        );
        // Post into C2 with W2's id: refused by the policy.
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, content) VALUES ('{W2}', '{C2}', 'agent', 'x')"
            )),
            "42501"
        );
        // ... without workspace_id: the parent is not visible, "not found".
        assert_eq!(
            sqlstate(&format!("INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('{C2}', 'agent', 'x')")),
            "23503"
        );
        // ... under W1's id: (W1, C2) does not exist.
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, content) VALUES ('{W1}', '{C2}', 'agent', 'x')"
            )),
            "23503"
        );
        // Move C1 to W2.
        assert_eq!(
            sqlstate(&format!(
                "UPDATE support.conversations SET workspace_id = '{W2}' WHERE id = '{C1}'"
            )),
            "0A000"
        );
        // UPDATE and DELETE of C2: RLS hides it, 0 rows, no error.
        assert_eq!(
            value::<i64>(&format!(
                "WITH u AS (UPDATE support.conversations SET subject = 'hijacked' WHERE id = '{C2}' RETURNING 1) SELECT count(*) FROM u"
            )),
            Some(0)
        );
        assert_eq!(
            value::<i64>(&format!("WITH d AS (DELETE FROM support.conversations WHERE id = '{C2}' RETURNING 1) SELECT count(*) FROM d")),
            Some(0)
        );
        assert_eq!(
            value::<i64>(&format!(
                "WITH d AS (DELETE FROM support.conversation_messages WHERE conversation_id = '{C2}' RETURNING 1) SELECT count(*) FROM d"
            )),
            Some(0)
        );
        // Positive control: the same UPDATE on C1 does affect its row.
        assert_eq!(
            value::<i64>(&format!(
                "WITH u AS (UPDATE support.conversations SET subject = 'renamed' WHERE id = '{C1}' RETURNING 1) SELECT count(*) FROM u"
            )),
            Some(1)
        );
        assert_eq!(w2_snapshot(), before, "W2 must be unchanged");
        assert_eq!(
            value::<String>(&format!(
                "SELECT workspace_id::text FROM support.conversations WHERE id = '{C1}'"
            ))
            .as_deref(),
            Some(W1)
        );
        assert_eq!(
            count(&format!(
                "SELECT 1 FROM support.conversations WHERE workspace_id = '{W1}'"
            )),
            w1_before
        );
    }

    #[pg_test]
    fn ids_and_foreign_users_cannot_be_chosen() {
        fixture();
        as_user(U1);
        // The database picks ids: naming one is refused.
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversations (id, workspace_id) VALUES ('{NOWHERE}', '{W1}')"
            )),
            "42501"
        );
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversation_messages (id, conversation_id, role, content) VALUES ('{NOWHERE}', '{C1}', 'agent', 'x')"
            )),
            "42501"
        );
        assert_eq!(
            sqlstate(&format!(
                "UPDATE support.conversations SET id = '{NOWHERE}' WHERE id = '{C1}'"
            )),
            "42501"
        );
        // Positive control: without an id the insert works and gets a fresh id.
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversations (workspace_id, subject) VALUES ('{W1}', 'mine')"
            )),
            "00000"
        );
        assert_eq!(
            count("SELECT 1 FROM support.conversations WHERE subject = 'mine' AND id IS NOT NULL"),
            1
        );

        // A user of another workspace is indistinguishable from no user at all.
        let foreign_bot = error_of(&format!(
            "INSERT INTO support.conversations (workspace_id, bot_user_id) VALUES ('{W1}', '{B2}')"
        ));
        let missing_bot = error_of(&format!("INSERT INTO support.conversations (workspace_id, bot_user_id) VALUES ('{W1}', '{NOWHERE}')"));
        assert!(
            foreign_bot.as_deref().unwrap_or("").starts_with("23503"),
            "{foreign_bot:?}"
        );
        assert_eq!(
            foreign_bot.map(|e| e.replace(B2, "<id>")),
            missing_bot.map(|e| e.replace(NOWHERE, "<id>"))
        );

        let foreign_author = error_of(&format!(
            "INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) VALUES ('{C1}', 'agent', '{U2}', 'x')"
        ));
        let missing_author = error_of(&format!(
            "INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) VALUES ('{C1}', 'agent', '{NOWHERE}', 'x')"
        ));
        // Authorship is the caller: naming anyone else, foreign or missing,
        // is the same 42501.
        assert!(
            foreign_author.as_deref().unwrap_or("").starts_with("42501"),
            "{foreign_author:?}"
        );
        assert_eq!(
            foreign_author.map(|e| e.replace(U2, "<id>")),
            missing_author.map(|e| e.replace(NOWHERE, "<id>"))
        );
        assert_eq!(
            sqlstate(&format!(
                "UPDATE support.conversations SET bot_user_id = '{B2}' WHERE id = '{C1}'"
            )),
            "23503"
        );

        // Positive control: a member of W1 is accepted in both places.
        assert_eq!(sqlstate(&format!("INSERT INTO support.conversations (workspace_id, bot_user_id) VALUES ('{W1}', '{B1}')")), "00000");
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversation_messages (conversation_id, role, author_id, content) VALUES ('{C1}', 'agent', '{U1}', 'x')"
            )),
            "00000"
        );
        // A message without workspace_id got its parent's.
        assert_eq!(
            value::<String>(&format!(
                "SELECT workspace_id::text FROM support.conversation_messages WHERE author_id = '{U1}' AND conversation_id = '{C1}'"
            ))
            .as_deref(),
            Some(W1)
        );
    }

    #[pg_test]
    fn lifecycle_columns_are_not_writable_by_application_roles() {
        fixture();
        as_user(U1);
        // Column privileges refuse them ...
        assert_eq!(sqlstate(&format!("UPDATE support.conversations SET status = 'claimed', claimed_by = '{U1}' WHERE id = '{C3}'")), "42501");
        assert_eq!(sqlstate(&format!("UPDATE support.conversations SET escalated_at = now() - interval '1 day' WHERE id = '{C3}'")), "42501");
        // ... and so does the trigger, for a role granted the whole table.
        as_owner();
        run(&format!(
            "GRANT UPDATE ON support.conversations TO {APP_ROLE}"
        ));
        as_user(U1);
        assert_eq!(sqlstate(&format!("UPDATE support.conversations SET escalated_at = now() - interval '1 day' WHERE id = '{C3}'")), "42501");
        assert_eq!(
            sqlstate(&format!(
                "UPDATE support.conversations SET status = 'resolved' WHERE id = '{C1}'"
            )),
            "42501"
        );
        // A new conversation cannot start claimed; an escalated one gets the server's clock.
        assert_eq!(sqlstate(&format!("INSERT INTO support.conversations (workspace_id, status) VALUES ('{W1}', 'claimed')")), "42501");
        assert_eq!(sqlstate(&format!("INSERT INTO support.conversations (workspace_id, status, subject) VALUES ('{W1}', 'escalated', 'new')")), "00000");
        assert_eq!(count("SELECT 1 FROM support.conversations WHERE subject = 'new' AND escalated_at = now()"), 1);
        // Positive control: an ordinary column is writable.
        assert_eq!(
            sqlstate(&format!(
                "UPDATE support.conversations SET subject = 'ok' WHERE id = '{C3}'"
            )),
            "00000"
        );
        as_owner();
        assert_eq!(
            value::<String>(&format!("SELECT status || '/' || coalesce(claimed_by::text, '-') FROM support.conversations WHERE id = '{C3}'")).as_deref(),
            Some("escalated/-")
        );
    }

    #[pg_test]
    fn grant_usage_sets_up_a_fresh_role() {
        fixture();
        run("CREATE ROLE cx_test_fresh NOLOGIN");
        run("SET LOCAL ROLE cx_test_fresh");
        // Before: no access to tables, nor to the functions (not PUBLIC).
        assert_eq!(sqlstate("SELECT 1 FROM support.conversations"), "42501");
        assert_eq!(sqlstate("SELECT support.current_user_id()"), "42501");
        as_owner();
        run("SELECT support.grant_usage('cx_test_fresh')");
        run("SET LOCAL ROLE cx_test_fresh");
        run(&format!("SET LOCAL support.user_id = '{U2}'"));
        assert_eq!(
            texts("SELECT id FROM support.conversations"),
            ids(&[C2, C4])
        );
        assert_eq!(
            texts("SELECT DISTINCT workspace_id FROM support.conversation_messages"),
            ids(&[W2])
        );
        assert_eq!(texts("SELECT support.current_user_id()"), ids(&[U2]));
        // The role is subject to RLS.
        assert_eq!(
            value::<bool>("SELECT row_security_active('support.conversations')"),
            Some(true)
        );
    }
}
