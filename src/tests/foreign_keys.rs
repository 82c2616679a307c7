//! Foreign-key behaviour: who goes away, and what survives.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::*;

    fn state_of(id: &str) -> String {
        value::<String>(&format!(
            "SELECT status || '/' || coalesce(claimed_by::text, '-') || '/' || (claimed_at IS NOT NULL)::text \
               FROM support.conversations WHERE id = '{id}'"
        ))
        .unwrap_or_else(|| "missing".into())
    }

    fn claim_as(user: &str, id: &str) {
        as_user(user);
        run(&format!("SELECT support.claim_conversation('{id}')"));
        as_owner();
    }

    #[pg_test]
    fn deleting_the_bot_keeps_the_conversation() {
        fixture();
        assert_eq!(
            texts(&format!(
                "SELECT bot_user_id FROM support.conversations WHERE id = '{C1}'"
            )),
            ids(&[B1])
        );
        run(&format!("DELETE FROM support.users WHERE id = '{B1}'"));
        assert_eq!(
            texts(&format!(
                "SELECT bot_user_id FROM support.conversations WHERE id = '{C1}'"
            )),
            vec!["NULL".to_string()]
        );
        // The message the bot wrote survives too, unattributed.
        assert_eq!(count(&format!("SELECT 1 FROM support.conversation_messages WHERE conversation_id = '{C1}' AND role = 'bot' AND author_id IS NULL")), 1);
        // Positive control: W2's bot is untouched.
        assert_eq!(
            texts(&format!(
                "SELECT bot_user_id FROM support.conversations WHERE id = '{C2}'"
            )),
            ids(&[B2])
        );
    }

    #[pg_test]
    fn deleting_the_claiming_agent_requeues_the_conversation() {
        fixture();
        claim_as(U1, C3);
        assert_eq!(state_of(C3), format!("claimed/{U1}/true"));
        run(&format!("DELETE FROM support.users WHERE id = '{U1}'"));
        assert_eq!(state_of(C3), "escalated/-/false");
    }

    #[pg_test]
    fn removing_the_agents_membership_requeues_the_conversation() {
        fixture();
        claim_as(A1, C3);
        assert_eq!(state_of(C3), format!("claimed/{A1}/true"));
        run(&format!("DELETE FROM support.workspace_members WHERE workspace_id = '{W1}' AND user_id = '{A1}'"));
        assert_eq!(state_of(C3), "escalated/-/false");
        // The user still exists; only the membership went.
        assert_eq!(
            count(&format!("SELECT 1 FROM support.users WHERE id = '{A1}'")),
            1
        );
    }

    #[pg_test]
    fn a_workspace_with_conversations_cannot_be_deleted() {
        fixture();
        assert_eq!(
            sqlstate(&format!("DELETE FROM support.workspaces WHERE id = '{W1}'")),
            "23503"
        );
        assert_eq!(
            count(&format!(
                "SELECT 1 FROM support.workspace_members WHERE workspace_id = '{W1}'"
            )),
            4
        );
        // Positive control: once its conversations are gone, it can.
        run(&format!(
            "DELETE FROM support.conversations WHERE workspace_id = '{W1}'"
        ));
        assert_eq!(
            sqlstate(&format!("DELETE FROM support.workspaces WHERE id = '{W1}'")),
            "00000"
        );
        assert_eq!(
            count(&format!(
                "SELECT 1 FROM support.workspace_members WHERE workspace_id = '{W1}'"
            )),
            0
        );
    }

    #[pg_test]
    fn deleting_a_conversation_deletes_its_messages() {
        fixture();
        assert_eq!(
            count(&format!(
                "SELECT 1 FROM support.conversation_messages WHERE conversation_id = '{C1}'"
            )),
            2
        );
        run(&format!(
            "DELETE FROM support.conversations WHERE id = '{C1}'"
        ));
        assert_eq!(
            count(&format!(
                "SELECT 1 FROM support.conversation_messages WHERE conversation_id = '{C1}'"
            )),
            0
        );
        assert_eq!(
            count(&format!(
                "SELECT 1 FROM support.conversation_messages WHERE conversation_id = '{C3}'"
            )),
            1
        );
    }
}
