//! Catalog-level guarantees: RLS everywhere, policies presence-only, the
//! indexes the issue names, pinned search_path, no PUBLIC execute, CHECKs.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::*;

    #[pg_test]
    fn rls_is_enabled_on_every_support_table() {
        let tables = texts(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'support'::regnamespace AND c.relkind = 'r'",
        );
        assert_eq!(
            tables,
            ids(&[
                "conversation_counters",
                "conversation_events",
                "conversation_messages",
                "conversation_reads",
                "conversations",
                "jwt_keys",
                "member_events",
                "membership_versions",
                "notification_secret",
                "staff",
                "staff_workspaces",
                "users",
                "workspace_members",
                "workspaces"
            ])
        );
        let without_rls = texts(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'support'::regnamespace \
               AND c.relkind = 'r' AND NOT c.relrowsecurity",
        );
        assert_eq!(without_rls, Vec::<String>::new());
    }

    #[pg_test]
    fn no_policy_reads_the_member_role() {
        let policies = "SELECT polname, coalesce(pg_get_expr(polqual, polrelid), '') || ' ' || \
                               coalesce(pg_get_expr(polwithcheck, polrelid), '') AS expr \
                          FROM pg_policy WHERE polrelid::regclass::text LIKE 'support.%'";
        // One policy per table and command, named <table>_<command>_member
        // (<table>_select_own for each user's own rows: conversation_reads).
        assert_eq!(count(policies), 14);
        assert_eq!(
            count(&format!("SELECT 1 FROM ({policies}) p WHERE polname !~ '_(select|insert|update|delete)_(member|own)$'")),
            0
        );
        let reading_role = texts(&format!(
            "SELECT polname FROM ({policies}) p WHERE expr ~* '\\mrole\\M'"
        ));
        assert_eq!(reading_role, Vec::<String>::new());
        // Positive control: the same detector does see `role` where it is used.
        let detector_works = value::<bool>(
            "SELECT pg_get_constraintdef(oid) ~* '\\mrole\\M' FROM pg_constraint \
              WHERE conname = 'workspace_members_role_valid'",
        );
        assert_eq!(detector_works, Some(true));
    }

    #[pg_test]
    fn message_policies_follow_the_parent_conversation() {
        // Every message policy filters on the message's workspace_id ...
        let exprs = texts(
            "SELECT coalesce(pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)) \
               FROM pg_policy WHERE polrelid = 'support.conversation_messages'::regclass",
        );
        assert_eq!(exprs.len(), 4);
        assert!(exprs
            .iter()
            .all(|e| e == "support.workspace_member(workspace_id)"));
        // ... and that workspace_id is the parent's, by the composite foreign key.
        let fk = value::<String>(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
              WHERE conname = 'conversation_messages_conversation_fkey'",
        );
        assert_eq!(
            fk.as_deref(),
            Some("FOREIGN KEY (workspace_id, conversation_id) REFERENCES support.conversations(workspace_id, id) ON DELETE CASCADE")
        );
    }

    /// Number of indexes on `table` whose leading columns are `cols`.
    fn indexes_leading_with(table: &str, cols: &[&str]) -> i64 {
        let want = cols
            .iter()
            .map(|c| format!("'{c}'"))
            .collect::<Vec<_>>()
            .join(",");
        count(&format!(
            "SELECT 1 FROM pg_index i WHERE i.indrelid = '{table}'::regclass AND \
               (SELECT array_agg(a.attname::text ORDER BY k.ord) \
                  FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
               )[1:{n}] = ARRAY[{want}]::text[]",
            n = cols.len()
        ))
    }

    #[pg_test]
    fn required_indexes_exist() {
        assert!(indexes_leading_with("support.conversations", &["workspace_id", "status"]) >= 1);
        assert!(
            indexes_leading_with(
                "support.conversation_messages",
                &["conversation_id", "created_at"]
            ) >= 1
        );
        assert!(indexes_leading_with("support.conversations", &["id"]) >= 1);
        assert!(indexes_leading_with("support.workspace_members", &["user_id"]) >= 1);
        // Every column used by an ON DELETE action has an index.
        assert!(indexes_leading_with("support.conversations", &["bot_user_id"]) >= 1);
        assert!(indexes_leading_with("support.conversations", &["claimed_by"]) >= 1);
        assert!(indexes_leading_with("support.conversation_messages", &["author_id"]) >= 1);
        // Positive control: the probe does return 0 for an unindexed column.
        assert_eq!(
            indexes_leading_with("support.conversations", &["subject"]),
            0
        );
        // Keys lead with workspace_id (scale-out rule).
        for t in [
            "support.conversations",
            "support.conversation_messages",
            "support.workspace_members",
        ] {
            let pk = value::<String>(&format!(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{t}'::regclass AND contype = 'p'"
            ))
            .unwrap_or_default();
            assert!(pk.starts_with("PRIMARY KEY (workspace_id,"), "{t}: {pk}");
        }
    }

    #[pg_test]
    fn every_function_pins_search_path_and_none_is_public() {
        let functions =
            "SELECT p.oid, p.proname, p.proconfig, p.proacl, p.proowner FROM pg_proc p \
                          WHERE p.pronamespace = 'support'::regnamespace";
        assert!(count(functions) >= 8, "expected the extension's functions");
        let unpinned = texts(&format!(
            "SELECT proname FROM ({functions}) f WHERE NOT EXISTS \
               (SELECT 1 FROM unnest(f.proconfig) s WHERE s LIKE 'search\\_path=%') ORDER BY 1"
        ));
        // The exceptions are the list in docs/security.md, with their reason.
        let doc = include_str!("../../docs/security.md");
        let begin = doc
            .find("<!-- functions without SET search_path: begin -->")
            .expect("list in docs/security.md");
        let end = doc
            .find("<!-- functions without SET search_path: end -->")
            .expect("list end");
        let mut listed: Vec<String> = doc[begin..end]
            .lines()
            .filter_map(|l| l.trim().strip_prefix("- `support."))
            .filter_map(|l| l.split('(').next())
            .map(str::to_owned)
            .collect();
        listed.sort();
        assert_eq!(listed.len(), 3, "docs/security.md lists {listed:?}");
        assert_eq!(unpinned, listed);
        let public_exec = texts(&format!(
            "SELECT proname FROM ({functions}) f WHERE EXISTS \
               (SELECT 1 FROM aclexplode(coalesce(f.proacl, acldefault('f', f.proowner))) a \
                 WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')"
        ));
        assert_eq!(public_exec, Vec::<String>::new());
        // Positive control: a function with default privileges is caught.
        assert_eq!(
            value::<bool>(
                "SELECT EXISTS (SELECT 1 FROM aclexplode(acldefault('f', 10::oid)) a \
                  WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')"
            ),
            Some(true)
        );
        // No table privilege for PUBLIC either.
        let public_tables = texts(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'support'::regnamespace \
               AND EXISTS (SELECT 1 FROM aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a WHERE a.grantee = 0)",
        );
        assert_eq!(public_tables, Vec::<String>::new());
    }

    #[pg_test]
    fn check_constraints_reject_typos() {
        fixture();
        assert_eq!(sqlstate(&format!("INSERT INTO support.conversations (workspace_id, status) VALUES ('{W1}', 'escalted')")), "23514");
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversations (workspace_id, channel) VALUES ('{W1}', 'fax')"
            )),
            "23514"
        );
        assert_eq!(
            sqlstate(&format!(
                "UPDATE support.conversations SET status = 'closed' WHERE id = '{C1}'"
            )),
            "23514"
        );
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('{C1}', 'robot', 'x')"
            )),
            "23514"
        );
        assert_eq!(
            sqlstate(&format!(
                "UPDATE support.workspace_members SET role = 'god' WHERE user_id = '{U1}'"
            )),
            "23514"
        );
        assert_eq!(
            sqlstate("INSERT INTO support.users (kind) VALUES ('alien')"),
            "23514"
        );
        // The same typos from an application role still fail with 23514.
        as_user(U1);
        assert_eq!(sqlstate(&format!("INSERT INTO support.conversations (workspace_id, status) VALUES ('{W1}', 'escalted')")), "23514");
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversations (workspace_id, channel) VALUES ('{W1}', 'fax')"
            )),
            "23514"
        );
        // Positive control: valid values are accepted.
        assert_eq!(sqlstate(&format!("INSERT INTO support.conversations (workspace_id, status, channel) VALUES ('{W1}', 'escalated', 'sms')")), "00000");
        // (U1 is an agent: agents post agent messages; customer messages come from bots.)
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ('{C1}', 'agent', 'x')"
            )),
            "00000"
        );
        as_owner();
        assert_eq!(
            count(&format!(
                "SELECT 1 FROM support.conversations WHERE workspace_id = '{W1}'"
            )),
            3
        );
    }
}
