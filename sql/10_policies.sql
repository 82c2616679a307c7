-- conversations_ext: row-level security.
--
-- Visibility is presence-only: every member of a workspace reads its rows. What
-- a member may write depends on their role (docs/permissions.tsv); that is
-- enforced by the triggers (sql/20_triggers.sql) and the functions, so that a
-- refusal names the rule and no policy reads `role`.
--
-- Shape: `workspace_id = ANY ((SELECT support.member_workspaces())::uuid[])`. The
-- sub-select does not depend on the row, so the planner runs it once per
-- statement (an initPlan) and the predicate becomes an index condition on
-- workspace_id. member_workspaces() is SECURITY DEFINER (it reads
-- workspace_members past that table's own policy) and presence-only: no policy
-- reads workspace_members.role.
--
-- The table owner (and superusers) bypass these policies; application roles,
-- set up with support.grant_usage(), do not.

ALTER TABLE support.users                 ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.workspaces            ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.workspace_members     ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.conversations         ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.conversation_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.conversation_events   ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.member_events         ENABLE ROW LEVEL SECURITY;
-- jwt_keys: RLS on and no policy at all: nobody but the owner reads a key.
ALTER TABLE support.jwt_keys              ENABLE ROW LEVEL SECURITY;

-- users: yourself, and the users who share a workspace with you. Read-only.
CREATE POLICY users_select_member ON support.users FOR SELECT
    USING (
        id OPERATOR(pg_catalog.=) (SELECT support.current_user_id())
        OR id IN (SELECT m.user_id
                    FROM support.workspace_members AS m
                   WHERE m.workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]))
    );

-- workspaces: the workspaces you are a member of. Read-only.
CREATE POLICY workspaces_select_member ON support.workspaces FOR SELECT
    USING (id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));

-- workspace_members: the memberships of your workspaces. Read-only (changed
-- through support.add_member / set_member_role / remove_member).
CREATE POLICY workspace_members_select_member ON support.workspace_members FOR SELECT
    USING (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));

-- conversations: members of the workspace read them.
CREATE POLICY conversations_select_member ON support.conversations FOR SELECT
    USING (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));
-- conversations: members open conversations in their own workspaces only.
CREATE POLICY conversations_insert_member ON support.conversations FOR INSERT
    WITH CHECK (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));
-- conversations: members edit their workspace's conversations, and cannot move one out.
CREATE POLICY conversations_update_member ON support.conversations FOR UPDATE
    USING (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]))
    WITH CHECK (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));
-- conversations: members delete their workspace's conversations.
CREATE POLICY conversations_delete_member ON support.conversations FOR DELETE
    USING (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));

-- conversation_messages: allowed iff the parent conversation is visible. The
-- composite foreign key (workspace_id, conversation_id) guarantees a message's
-- workspace_id is its parent's, so checking it is checking the parent's.
CREATE POLICY conversation_messages_select_member ON support.conversation_messages FOR SELECT
    USING (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));
-- conversation_messages: members post into their workspace's conversations only.
CREATE POLICY conversation_messages_insert_member ON support.conversation_messages FOR INSERT
    WITH CHECK (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));
-- conversation_messages: members edit messages of their workspace's conversations.
CREATE POLICY conversation_messages_update_member ON support.conversation_messages FOR UPDATE
    USING (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]))
    WITH CHECK (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));
-- conversation_messages: members delete messages of their workspace's conversations.
CREATE POLICY conversation_messages_delete_member ON support.conversation_messages FOR DELETE
    USING (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));

-- conversation_events: members read their workspace's audit trail. No write
-- policy (and no write privilege): only the extension's triggers append.
CREATE POLICY conversation_events_select_member ON support.conversation_events FOR SELECT
    USING (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));

-- member_events: members read their workspace's membership audit trail. No
-- write policy (and no write privilege): only the extension's trigger appends.
CREATE POLICY member_events_select_member ON support.member_events FOR SELECT
    USING (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));
