//! Identity: the three sources, their precedence, empty and invalid values.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::*;

    fn set(name: &str, v: &str) {
        Spi::run_with_args("SELECT set_config($1, $2, true)", &[name.into(), v.into()])
            .unwrap_or_else(|e| panic!("set {name}: {e}"));
    }

    fn who() -> String {
        value::<String>("SELECT coalesce(support.current_user_id()::text, 'nobody')")
            .unwrap_or_default()
    }

    #[pg_test]
    fn each_source_identifies_the_user() {
        reset_identity();
        assert_eq!(who(), "nobody");
        set("support.user_id", U1);
        assert_eq!(who(), U1);
        reset_identity();
        set("request.jwt.claim.sub", U2);
        assert_eq!(who(), U2);
        reset_identity();
        set(
            "request.jwt.claims",
            &format!(r#"{{"sub":"{A1}","role":"authenticated","aud":"x"}}"#),
        );
        assert_eq!(who(), A1);
    }

    #[pg_test]
    fn the_first_source_that_is_set_decides() {
        reset_identity();
        set("support.user_id", U1);
        set("request.jwt.claim.sub", U2);
        assert_eq!(who(), U2);
        set("request.jwt.claims", &format!(r#"{{"sub":"{A1}"}}"#));
        assert_eq!(who(), A1);
        // Anonymous PostgREST request: claims without sub. Never fall through
        // to a stale support.user_id.
        set("request.jwt.claims", r#"{"role":"anon"}"#);
        assert_eq!(who(), "nobody");
        set("request.jwt.claims", r#"{"sub":null}"#);
        assert_eq!(who(), "nobody");
        set("request.jwt.claims", r#"{"sub":""}"#);
        assert_eq!(who(), "nobody");
        // Empty values mean "not set".
        set("request.jwt.claims", "");
        assert_eq!(who(), U2);
        set("request.jwt.claim.sub", "");
        assert_eq!(who(), U1);
        set("support.user_id", "");
        assert_eq!(who(), "nobody");
    }

    #[pg_test]
    fn invalid_subjects_are_errors_not_nobody() {
        reset_identity();
        set("support.user_id", "not-a-uuid");
        assert_eq!(sqlstate("SELECT support.current_user_id()"), "22P02");
        let message = error_of("SELECT support.current_user_id()").unwrap_or_default();
        assert!(
            message.contains("support.user_id") && message.contains("not a UUID"),
            "{message}"
        );
        reset_identity();
        set("request.jwt.claim.sub", "42");
        assert_eq!(sqlstate("SELECT support.current_user_id()"), "22P02");
        reset_identity();
        set("request.jwt.claims", r#"{"sub":"admin"}"#);
        assert_eq!(sqlstate("SELECT support.current_user_id()"), "22P02");
        set("request.jwt.claims", r#"{"sub":12345}"#);
        assert_eq!(sqlstate("SELECT support.current_user_id()"), "22P02");
        set("request.jwt.claims", "{not json");
        assert_eq!(sqlstate("SELECT support.current_user_id()"), "22P02");
        // ... also where a policy asks.
        reset_identity();
        fixture();
        set("request.jwt.claims", "{not json");
        run(&format!("SET LOCAL ROLE {APP_ROLE}"));
        assert_eq!(sqlstate("SELECT * FROM support.conversations"), "22P02");
        // Positive control: a valid claim works again.
        set("request.jwt.claims", &format!(r#"{{"sub":"{U1}"}}"#));
        assert_eq!(sqlstate("SELECT support.current_user_id()"), "00000");
        assert_eq!(
            texts("SELECT id FROM support.conversations"),
            ids(&[C1, C3])
        );
    }

    #[pg_test]
    fn without_identity_nothing_is_visible() {
        fixture();
        run(&format!("SET LOCAL ROLE {APP_ROLE}"));
        reset_identity();
        for t in [
            "conversations",
            "conversation_messages",
            "workspaces",
            "workspace_members",
            "users",
        ] {
            assert_eq!(count(&format!("SELECT 1 FROM support.{t}")), 0, "{t}");
        }
        assert_eq!(
            value::<bool>(&format!("SELECT support.workspace_member('{W1}')")),
            Some(false)
        );
        assert_eq!(
            value::<Vec<String>>("SELECT support.member_workspaces()::text[]"),
            Some(vec![])
        );
        assert_eq!(
            sqlstate(&format!("SELECT support.claim_conversation('{C3}')")),
            "28000"
        );
        assert_eq!(
            sqlstate(&format!(
                "INSERT INTO support.conversations (workspace_id) VALUES ('{W1}')"
            )),
            "42501"
        );
        // Positive control: with an identity the same role sees W1.
        set("support.user_id", U1);
        assert_eq!(count("SELECT 1 FROM support.conversations"), 2);
        assert_eq!(
            value::<bool>(&format!("SELECT support.workspace_member('{W1}')")),
            Some(true)
        );
        assert_eq!(
            value::<bool>(&format!("SELECT support.workspace_member('{W2}')")),
            Some(false)
        );
        assert_eq!(
            texts("SELECT unnest(support.member_workspaces())"),
            ids(&[W1])
        );
    }
}
