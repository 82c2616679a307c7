-- conversations_ext: row-level security.
--
-- Visibility is presence-only: every member of a workspace reads its rows. What
-- a member may write depends on their role (docs/permissions.tsv); that is
-- enforced by the triggers (sql/20_triggers.sql) and the functions, so that a
-- refusal names the rule and no policy reads `role`.
--
-- Shape: `support.workspace_member(workspace_id)`, one call and no
-- sub-select (Citus refuses policies with sub-selects on distributed and
-- reference tables). The call runs per row and costs a hash probe of the
-- caller's membership set, whatever the number of workspaces: the identity is
-- re-read from the settings and the set, cached per backend, is re-validated
-- against the active snapshot by comparing a few integers
-- (src/membership/cache.rs). Its planner support function
-- (src/membership/planner.rs) offers the equivalent index condition
-- `workspace_id = ANY (support.member_workspaces())` where the query does not
-- already pin workspace_id. The functions are SECURITY DEFINER where they read
-- workspace_members past that table's own policy, and presence-only: no
-- policy reads workspace_members.role.
--
-- The table owner (and superusers) bypass these policies; application roles,
-- set up with support.grant_usage(), do not.

ALTER TABLE support.users                 ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.workspaces            ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.workspace_members     ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.conversations         ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.conversation_messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.conversation_reads    ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.conversation_events   ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.member_events         ENABLE ROW LEVEL SECURITY;
-- jwt_keys: RLS on and no policy at all: nobody but the owner reads a key.
ALTER TABLE support.jwt_keys              ENABLE ROW LEVEL SECURITY;
-- membership_versions, conversation_counters, notification_secret, staff, staff_workspaces:
-- likewise (the DBA's; read by the membership cache, the numbering trigger and
-- the staff functions as the owner).
ALTER TABLE support.membership_versions   ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.conversation_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.notification_secret   ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.staff                 ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.staff_workspaces      ENABLE ROW LEVEL SECURITY;

-- The planner support of the policies' call (see the header).
ALTER FUNCTION support.workspace_member(uuid) SUPPORT support.workspace_member_support;

-- users: yourself, and the users who share a workspace with you. Read-only.
CREATE POLICY users_select_member ON support.users FOR SELECT
    USING (support.shares_workspace(id));

-- workspaces: the workspaces you are a member of. Read-only.
CREATE POLICY workspaces_select_member ON support.workspaces FOR SELECT
    USING (support.workspace_member(id));

-- workspace_members: the memberships of your workspaces. Read-only (changed
-- through support.add_member / set_member_role / remove_member).
CREATE POLICY workspace_members_select_member ON support.workspace_members FOR SELECT
    USING (support.workspace_member(workspace_id));

-- conversations: members of the workspace read them.
CREATE POLICY conversations_select_member ON support.conversations FOR SELECT
    USING (support.workspace_member(workspace_id));
-- conversations: members open conversations in their own workspaces only.
CREATE POLICY conversations_insert_member ON support.conversations FOR INSERT
    WITH CHECK (support.workspace_member(workspace_id));
-- conversations: members edit their workspace's conversations, and cannot move one out.
CREATE POLICY conversations_update_member ON support.conversations FOR UPDATE
    USING (support.workspace_member(workspace_id))
    WITH CHECK (support.workspace_member(workspace_id));
-- conversations: members delete their workspace's conversations.
CREATE POLICY conversations_delete_member ON support.conversations FOR DELETE
    USING (support.workspace_member(workspace_id));

-- conversation_messages: allowed iff the parent conversation is visible. The
-- composite foreign key (workspace_id, conversation_id) guarantees a message's
-- workspace_id is its parent's, so checking it is checking the parent's.
CREATE POLICY conversation_messages_select_member ON support.conversation_messages FOR SELECT
    USING (support.workspace_member(workspace_id));
-- conversation_messages: members post into their workspace's conversations only.
CREATE POLICY conversation_messages_insert_member ON support.conversation_messages FOR INSERT
    WITH CHECK (support.workspace_member(workspace_id));
-- conversation_messages: members edit messages of their workspace's conversations.
CREATE POLICY conversation_messages_update_member ON support.conversation_messages FOR UPDATE
    USING (support.workspace_member(workspace_id))
    WITH CHECK (support.workspace_member(workspace_id));
-- conversation_messages: members delete messages of their workspace's conversations.
CREATE POLICY conversation_messages_delete_member ON support.conversation_messages FOR DELETE
    USING (support.workspace_member(workspace_id));

-- conversation_reads: your own read positions in the workspaces you read.
-- Read-only (support.mark_read writes them).
CREATE POLICY conversation_reads_select_own ON support.conversation_reads FOR SELECT
    USING (user_id OPERATOR(pg_catalog.=) support.current_user_id() AND support.workspace_member(workspace_id));

-- conversation_events: members read their workspace's audit trail. No write
-- policy (and no write privilege): only the extension's triggers append.
CREATE POLICY conversation_events_select_member ON support.conversation_events FOR SELECT
    USING (support.workspace_member(workspace_id));

-- member_events: members read their workspace's membership audit trail. No
-- write policy (and no write privilege): only the extension's trigger appends.
CREATE POLICY member_events_select_member ON support.member_events FOR SELECT
    USING (support.workspace_member(workspace_id));
