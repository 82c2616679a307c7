//! support.claim_conversation: success, the loser, foreign ids, wrong state.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::*;

    fn claim(id: &str) -> String {
        sqlstate(&format!("SELECT support.claim_conversation('{id}')"))
    }

    #[pg_test]
    fn claim_rules() {
        fixture();
        as_user(U1);
        let row = value::<String>(&format!(
            "SELECT status || '/' || claimed_by::text || '/' || (claimed_at IS NOT NULL)::text \
               FROM support.claim_conversation('{C3}')"
        ));
        assert_eq!(row, Some(format!("claimed/{U1}/true")));
        let claimed_at = value::<String>(&format!(
            "SELECT claimed_at::text FROM support.conversations WHERE id = '{C3}'"
        ));

        // The second agent loses.
        as_user(A1);
        assert_eq!(claim(C3), "55006");
        // Re-claim by the owner returns the row unchanged.
        as_user(U1);
        assert_eq!(
            value::<String>(&format!(
                "SELECT claimed_at::text FROM support.claim_conversation('{C3}')"
            )),
            claimed_at
        );
        // Wrong state: C1 is active (a bot has it).
        assert_eq!(claim(C1), "55000");
        let msg =
            error_of(&format!("SELECT support.claim_conversation('{C1}')")).unwrap_or_default();
        assert!(msg.contains("is active"), "{msg}");
        // Another workspace's conversation is "not found", word for word like a missing one.
        assert_eq!(claim(C4), "P0002");
        assert_eq!(
            error_of(&format!("SELECT support.claim_conversation('{C4}')"))
                .map(|e| e.replace(C4, "<id>")),
            error_of(&format!("SELECT support.claim_conversation('{NOWHERE}')"))
                .map(|e| e.replace(NOWHERE, "<id>"))
        );
        // A user of no workspace finds nothing.
        as_user(X);
        assert_eq!(claim(C3), "P0002");

        // Positive control: U2 claims C4 in its own workspace.
        as_user(U2);
        assert_eq!(claim(C4), "00000");
        as_owner();
        assert_eq!(
            texts("SELECT id::text || '=' || claimed_by::text FROM support.conversations WHERE status = 'claimed'"),
            {
                let mut v = vec![format!("{C3}={U1}"), format!("{C4}={U2}")];
                v.sort();
                v
            }
        );
    }
}
