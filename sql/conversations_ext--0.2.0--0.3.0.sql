-- conversations_ext 0.2.0 -> 0.3.0 (hand-written; checked by pg_test/tests/upgrade.rs,
-- which compares everything the extension owns after this script with a fresh
-- 0.3.0 install, by name, and an application role's privileges with those a
-- fresh grant_usage gives).
--
-- 0.3.0: who may do what (docs/permissions.tsv) enforced on every write path;
-- supervisor actions; membership management with its audit trail; message
-- edits and deletions audited; authorship is the caller; audit that no setting
-- can suppress; DROP SCHEMA / DROP TABLE guarded; keys checked when stored.
\echo Use "ALTER EXTENSION conversations_ext UPDATE TO '0.3.0'" to load this file. \quit

-- Messages: workspace_id gets a default that yields NULL (the insert trigger
-- fills it from the parent) so that ORMs read the key column back.
ALTER TABLE support.conversation_messages
    ALTER COLUMN workspace_id SET DEFAULT NULLIF(NULL::uuid, NULL::uuid);

-- Audit trail: which message an edit or deletion is about (appended: columns
-- are compared by name, not position), and the two new kinds.
ALTER TABLE support.conversation_events ADD COLUMN message_id uuid;
ALTER TABLE support.conversation_events DROP CONSTRAINT conversation_events_kind_valid;
ALTER TABLE support.conversation_events ADD CONSTRAINT conversation_events_kind_valid CHECK (kind IN (
        'created', 'escalated', 'claimed', 'released', 'transferred', 'resolved',
        'reopened', 'unassigned', 'changed', 'deleted', 'message_edited', 'message_deleted'));
COMMENT ON COLUMN support.conversation_events.kind IS
    'created | escalated | claimed | released | transferred | resolved | reopened | unassigned (owner removed or demoted) | changed (other direct edit by the table owner) | deleted | message_edited | message_deleted';
COMMENT ON COLUMN support.conversation_events.message_id IS
    'The message a message_edited or message_deleted event is about (never its content).';
COMMENT ON COLUMN support.workspace_members.role IS
    'owner | admin | agent | viewer. Not used by any RLS policy (visibility is presence-only); decides what a member may write and do (docs/permissions.md).';
COMMENT ON COLUMN support.conversation_messages.author_id IS
    'The member who wrote the row: for application roles always the calling user (for customer messages, the bot that relayed them). NULL once the author leaves the workspace.';

-- Audit trail of membership: every member added, every role change, every
-- removal, whoever made it (the membership functions, or the DBA directly).
-- Append-only like conversation_events; no foreign keys.
CREATE TABLE support.member_events (
    workspace_id uuid        NOT NULL,
    id           uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    user_id      uuid        NOT NULL,
    actor_id     uuid,
    kind         text        NOT NULL,
    from_role    text,
    to_role      text,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    CONSTRAINT member_events_pkey PRIMARY KEY (workspace_id, id),
    CONSTRAINT member_events_kind_valid CHECK (kind IN ('added', 'role_changed', 'removed'))
);
CREATE INDEX member_events_user_idx ON support.member_events (user_id, created_at);
COMMENT ON TABLE support.member_events IS
    'Append-only audit of membership changes (added, role_changed, removed), written by a trigger; members read their workspace''s rows.';
COMMENT ON COLUMN support.member_events.actor_id IS
    'support.current_user_id() of the statement that made the change (NULL: the DBA without an end user).';

SELECT pg_catalog.pg_extension_config_dump('support.member_events', '');

-- New Rust functions (definitions as pgrx generates them).
CREATE FUNCTION support."workspace_role"(
	"workspace_id" uuid /* pgrx :: Uuid */
) RETURNS TEXT /* Option < String > */
STRICT STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'workspace_role_wrapper';
CREATE FUNCTION support."check_new_message"(
	"workspace_id" uuid, /* core::option::Option<pgrx::datum::uuid::Uuid> */
	"author_id" uuid, /* core::option::Option<pgrx::datum::uuid::Uuid> */
	"role" TEXT /* core::option::Option<&str> */
) RETURNS uuid /* core::option::Option<pgrx::datum::uuid::Uuid> */
STABLE SECURITY DEFINER PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'check_new_message_wrapper';
CREATE FUNCTION support."require_user_id"() RETURNS uuid /* pgrx::datum::uuid::Uuid */
STRICT STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'require_user_id_wrapper';
CREATE FUNCTION support."unassign_claims"(
	"workspace_id" uuid, /* pgrx::datum::uuid::Uuid */
	"user_id" uuid /* pgrx::datum::uuid::Uuid */
) RETURNS bigint /* i64 */
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'unassign_claims_wrapper';
CREATE FUNCTION support."restoring"() RETURNS bool /* bool */
STRICT STABLE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'restoring_wrapper';
CREATE FUNCTION support."check_jwt_key"(
	"kid" TEXT, /* Option < & str > */
	"alg" TEXT, /* Option < & str > */
	"key" TEXT /* Option < & str > */
) RETURNS void
STABLE PARALLEL SAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'check_jwt_key_wrapper';

-- Row-level security of the membership audit trail.
ALTER TABLE support.member_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY member_events_select_member ON support.member_events FOR SELECT
    USING (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));

-- Triggers: changed functions replaced, new ones created.
CREATE OR REPLACE FUNCTION support.conversations_before_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    member_role text;
    bad_column text;
BEGIN
    IF pg_catalog.row_security_active('support.conversations'::pg_catalog.regclass) THEN
        member_role := support.workspace_role(NEW.workspace_id);
        IF member_role IS NULL THEN
            RETURN NEW;  -- not a member: the WITH CHECK policy refuses the row (42501)
        END IF;
        IF member_role OPERATOR(pg_catalog.=) 'viewer' THEN
            RAISE EXCEPTION 'workspace role viewer cannot create conversations'
                USING ERRCODE = '42501',
                      HINT = 'A viewer reads only. See docs/permissions.md.';
        END IF;
        -- An application role opens a conversation either with a bot (active)
        -- or straight into the agent queue (escalated, wait clock = now).
        IF NEW.status NOT IN ('active', 'escalated') THEN
            IF NEW.status NOT IN ('claimed', 'resolved') THEN
                RETURN NEW;  -- let the CHECK constraint report the typo (23514)
            END IF;
            RAISE EXCEPTION 'a new conversation must start as active or escalated, not %', NEW.status
                USING ERRCODE = '42501',
                      HINT = 'Use support.claim_conversation() to claim it afterwards.';
        END IF;
        -- Lifecycle columns are the database's. An explicit NULL (what an ORM
        -- sends for every column it has no value for) is not a violation.
        bad_column := CASE
            WHEN NEW.claimed_by IS NOT NULL THEN 'claimed_by'
            WHEN NEW.claimed_at IS NOT NULL THEN 'claimed_at'
            WHEN NEW.escalated_at IS NOT NULL THEN 'escalated_at'
            WHEN NEW.resolved_at IS NOT NULL THEN 'resolved_at'
            WHEN NEW.first_agent_reply_at IS NOT NULL THEN 'first_agent_reply_at'
        END;
        IF bad_column IS NOT NULL THEN
            RAISE EXCEPTION 'column % of support.conversations is set by the lifecycle functions: leave it out or NULL', bad_column
                USING ERRCODE = '42501',
                      COLUMN = bad_column,
                      HINT = 'Use support.claim_conversation() and the other lifecycle functions after the INSERT.';
        END IF;
        NEW.reopen_count := 0;
        NEW.escalated_at := CASE WHEN NEW.status = 'escalated' THEN pg_catalog.now() END;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION support.conversations_before_insert() IS
    'Trigger: for application roles, a viewer cannot create conversations; a new conversation starts active or escalated; lifecycle columns may be NULL, never set.';

CREATE OR REPLACE FUNCTION support.conversations_before_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad_column text;
BEGIN
    IF NEW.workspace_id IS DISTINCT FROM OLD.workspace_id THEN
        RAISE EXCEPTION 'conversation % cannot move to another workspace', OLD.id
            USING ERRCODE = '0A000',
                  HINT = 'workspace_id is fixed when a conversation is created.';
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION 'the id of conversation % cannot change', OLD.id
            USING ERRCODE = '0A000';
    END IF;

    IF pg_catalog.row_security_active('support.conversations'::pg_catalog.regclass) THEN
        -- The row is visible (RLS let the UPDATE reach it), so the refusal
        -- reveals nothing.
        IF support.workspace_role(OLD.workspace_id) OPERATOR(pg_catalog.=) 'viewer' THEN
            RAISE EXCEPTION 'workspace role viewer cannot edit conversations'
                USING ERRCODE = '42501',
                      HINT = 'A viewer reads only. See docs/permissions.md.';
        END IF;
        IF NEW.status NOT IN ('active', 'escalated', 'claimed', 'resolved') THEN
            RETURN NEW;  -- let the CHECK constraint report the typo (23514)
        END IF;
        bad_column := CASE
            WHEN NEW.status IS DISTINCT FROM OLD.status THEN 'status'
            WHEN NEW.claimed_by IS DISTINCT FROM OLD.claimed_by THEN 'claimed_by'
            WHEN NEW.claimed_at IS DISTINCT FROM OLD.claimed_at THEN 'claimed_at'
            WHEN NEW.escalated_at IS DISTINCT FROM OLD.escalated_at THEN 'escalated_at'
            WHEN NEW.resolved_at IS DISTINCT FROM OLD.resolved_at THEN 'resolved_at'
            WHEN NEW.first_agent_reply_at IS DISTINCT FROM OLD.first_agent_reply_at THEN 'first_agent_reply_at'
            WHEN NEW.reopen_count IS DISTINCT FROM OLD.reopen_count THEN 'reopen_count'
        END;
        IF bad_column IS NOT NULL THEN
            RAISE EXCEPTION 'the lifecycle of conversation % is changed only through the support.* functions (column %)', OLD.id, bad_column
                USING ERRCODE = '42501',
                      COLUMN = bad_column,
                      HINT = 'Use support.escalate_conversation(), claim_conversation(), claim_next_conversation(), release_conversation(), transfer_conversation(), resolve_conversation() or reopen_conversation().';
        END IF;
    END IF;

    -- The owner went away (the foreign-key action set claimed_by NULL because
    -- the member was deleted or left the workspace): back to the queue.
    IF NEW.status = 'claimed' AND NEW.claimed_by IS NULL AND OLD.claimed_by IS NOT NULL THEN
        NEW.status     := 'escalated';
        NEW.claimed_at := NULL;
    END IF;

    NEW.updated_at := pg_catalog.now();
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION support.conversations_before_update() IS
    'Trigger: workspace_id is immutable; a viewer cannot edit; lifecycle columns are not writable by application roles; an owner removed by the foreign-key action sends the conversation back to escalated; maintains updated_at.';

-- conversations and conversation_messages, BEFORE DELETE: only owners and
-- admins delete conversations and messages (each deletion is audited).
CREATE FUNCTION support.deletion_needs_supervisor() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    member_role text;
BEGIN
    IF pg_catalog.row_security_active(TG_RELID) THEN
        member_role := support.workspace_role(OLD.workspace_id);
        IF member_role IS DISTINCT FROM 'owner' AND member_role IS DISTINCT FROM 'admin' THEN
            RAISE EXCEPTION 'workspace role % cannot delete %', COALESCE(member_role, 'none'),
                  CASE TG_TABLE_NAME WHEN 'conversations' THEN 'conversations' ELSE 'messages' END
                USING ERRCODE = '42501',
                      HINT = 'Only an owner or admin of the workspace deletes conversations and messages.';
        END IF;
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION support.deletion_needs_supervisor() IS
    'Trigger: for application roles, only owners and admins delete conversations and messages.';

CREATE TRIGGER conversations_before_delete
    BEFORE DELETE ON support.conversations
    FOR EACH ROW EXECUTE FUNCTION support.deletion_needs_supervisor();

CREATE OR REPLACE FUNCTION support.conversation_messages_before_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.workspace_id IS NULL AND NEW.conversation_id IS NOT NULL THEN
        SELECT c.workspace_id INTO NEW.workspace_id
          FROM support.conversations AS c
         WHERE c.id OPERATOR(pg_catalog.=) NEW.conversation_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'conversation % not found', NEW.conversation_id
                USING ERRCODE = '23503';
        END IF;
    END IF;

    -- Who may post what, and as whom (one call: every chat message takes
    -- this path): see support.check_new_message().
    IF pg_catalog.row_security_active('support.conversation_messages'::pg_catalog.regclass) THEN
        NEW.author_id := support.check_new_message(NEW.workspace_id, NEW.author_id, NEW.role);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION support.conversation_messages_before_insert() IS
    'Trigger: fills workspace_id from the parent conversation when omitted (parent looked up under the caller''s RLS); for application roles, author_id is the caller and the message role must suit the caller''s workspace role.';

CREATE FUNCTION support.conversation_messages_before_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_catalog.row_security_active('support.conversation_messages'::pg_catalog.regclass) THEN
        IF support.workspace_role(OLD.workspace_id) OPERATOR(pg_catalog.=) 'viewer' THEN
            RAISE EXCEPTION 'workspace role viewer cannot edit messages'
                USING ERRCODE = '42501',
                      HINT = 'A viewer reads only. See docs/permissions.md.';
        END IF;
        IF OLD.author_id IS NULL OR OLD.author_id IS DISTINCT FROM support.current_user_id() THEN
            RAISE EXCEPTION 'only its author edits a message'
                USING ERRCODE = '42501';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION support.conversation_messages_before_update() IS
    'Trigger: for application roles, only the author of a message edits it (never a viewer).';

CREATE TRIGGER conversation_messages_before_update
    BEFORE UPDATE ON support.conversation_messages
    FOR EACH ROW EXECUTE FUNCTION support.conversation_messages_before_update();

CREATE TRIGGER conversation_messages_before_delete
    BEFORE DELETE ON support.conversation_messages
    FOR EACH ROW EXECUTE FUNCTION support.deletion_needs_supervisor();

CREATE OR REPLACE FUNCTION support.conversations_audit() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pending text[];
    event_kind text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off' AND support.restoring() THEN
            RETURN NULL;  -- restore mode: the dump carries the original events
        END IF;
        INSERT INTO support.conversation_events
               (workspace_id, conversation_id, actor_id, kind, to_status, to_owner)
        VALUES (NEW.workspace_id, NEW.id, support.current_user_id(), 'created', NEW.status, NEW.claimed_by);
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off' AND support.restoring() THEN
            RETURN NULL;
        END IF;
        INSERT INTO support.conversation_events
               (workspace_id, conversation_id, actor_id, kind, from_status, from_owner)
        VALUES (OLD.workspace_id, OLD.id, support.current_user_id(), 'deleted', OLD.status, OLD.claimed_by);
        RETURN NULL;
    END IF;

    IF (OLD.status, OLD.claimed_by) IS NOT DISTINCT FROM (NEW.status, NEW.claimed_by) THEN
        RETURN NULL;  -- not a state or ownership change
    END IF;
    pending := support.lifecycle_pending(NEW.id);
    IF pending IS NULL AND pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off'
       AND support.restoring() THEN
        RETURN NULL;
    END IF;
    event_kind := CASE
        WHEN pending IS NOT NULL THEN pending[1]
        WHEN OLD.status = 'claimed' AND NEW.status = 'escalated' AND NEW.claimed_by IS NULL THEN 'unassigned'
        WHEN OLD.status = 'active' AND NEW.status = 'escalated' THEN 'escalated'
        WHEN OLD.status = 'escalated' AND NEW.status = 'claimed' THEN 'claimed'
        WHEN OLD.status = 'claimed' AND NEW.status = 'claimed' THEN 'transferred'
        WHEN OLD.status = 'resolved' AND NEW.status = 'escalated' THEN 'reopened'
        WHEN NEW.status = 'resolved' THEN 'resolved'
        ELSE 'changed'
    END;
    INSERT INTO support.conversation_events
           (workspace_id, conversation_id, actor_id, kind, from_status, to_status, from_owner, to_owner, reason)
    VALUES (NEW.workspace_id, NEW.id, support.current_user_id(), event_kind,
            OLD.status, NEW.status, OLD.claimed_by, NEW.claimed_by, pending[2]);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.conversations_audit() IS
    'Trigger: appends to support.conversation_events every creation, state change, ownership change and deletion of a conversation.';

CREATE FUNCTION support.conversation_messages_audit() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off' AND support.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.content IS DISTINCT FROM OLD.content THEN
            INSERT INTO support.conversation_events
                   (workspace_id, conversation_id, actor_id, kind, message_id)
            VALUES (NEW.workspace_id, NEW.conversation_id, support.current_user_id(), 'message_edited', NEW.id);
        END IF;
    ELSIF EXISTS (SELECT 1 FROM support.conversations AS c
                   WHERE c.workspace_id OPERATOR(pg_catalog.=) OLD.workspace_id
                     AND c.id OPERATOR(pg_catalog.=) OLD.conversation_id) THEN
        INSERT INTO support.conversation_events
               (workspace_id, conversation_id, actor_id, kind, message_id)
        VALUES (OLD.workspace_id, OLD.conversation_id, support.current_user_id(), 'message_deleted', OLD.id);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.conversation_messages_audit() IS
    'Trigger: appends message_edited / message_deleted events (message id, actor, time; never the content).';

CREATE TRIGGER conversation_messages_audit
    AFTER UPDATE OR DELETE ON support.conversation_messages
    FOR EACH ROW EXECUTE FUNCTION support.conversation_messages_audit();

CREATE OR REPLACE FUNCTION support.conversation_messages_first_reply() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.role OPERATOR(pg_catalog.=) 'agent'
       AND NEW.author_id IS NOT NULL
       AND NOT (pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off' AND support.restoring()) THEN
        UPDATE support.conversations AS c
           SET first_agent_reply_at = NEW.created_at
         WHERE c.workspace_id OPERATOR(pg_catalog.=) NEW.workspace_id
           AND c.id OPERATOR(pg_catalog.=) NEW.conversation_id
           AND c.first_agent_reply_at IS NULL
           AND c.escalated_at IS NOT NULL
           AND c.escalated_at OPERATOR(pg_catalog.<=) NEW.created_at
           AND EXISTS (SELECT 1
                         FROM support.workspace_members AS m
                         JOIN support.users AS u ON u.id OPERATOR(pg_catalog.=) m.user_id
                        WHERE m.workspace_id OPERATOR(pg_catalog.=) NEW.workspace_id
                          AND m.user_id OPERATOR(pg_catalog.=) NEW.author_id
                          AND m.role IN ('owner', 'admin', 'agent')
                          AND u.kind OPERATOR(pg_catalog.=) 'human');
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.conversation_messages_first_reply() IS
    'Trigger: the first message with role agent by a human agent, admin or owner after escalation sets conversations.first_agent_reply_at.';

CREATE FUNCTION support.workspace_members_audit() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.role OPERATOR(pg_catalog.=) 'viewer'
       AND OLD.role OPERATOR(pg_catalog.<>) 'viewer' THEN
        -- Against the latest snapshot (like a foreign-key action): a claim
        -- committed after this transaction's snapshot is unassigned too, or,
        -- under REPEATABLE READ, is a serialization failure (40001).
        PERFORM support.unassign_claims(NEW.workspace_id, NEW.user_id);
    END IF;
    IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off' AND support.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO support.member_events (workspace_id, user_id, actor_id, kind, to_role)
        VALUES (NEW.workspace_id, NEW.user_id, support.current_user_id(), 'added', NEW.role);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO support.member_events (workspace_id, user_id, actor_id, kind, from_role)
        VALUES (OLD.workspace_id, OLD.user_id, support.current_user_id(), 'removed', OLD.role);
    ELSIF NEW.role IS DISTINCT FROM OLD.role THEN
        INSERT INTO support.member_events (workspace_id, user_id, actor_id, kind, from_role, to_role)
        VALUES (NEW.workspace_id, NEW.user_id, support.current_user_id(), 'role_changed', OLD.role, NEW.role);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.workspace_members_audit() IS
    'Trigger: appends to support.member_events every membership added, changed or removed; a member demoted to viewer gives up their claims (unassigned).';

CREATE TRIGGER workspace_members_audit
    AFTER INSERT OR UPDATE OR DELETE ON support.workspace_members
    FOR EACH ROW EXECUTE FUNCTION support.workspace_members_audit();

CREATE FUNCTION support.jwt_keys_check() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM support.check_jwt_key(NEW.kid, NEW.alg, NEW.key);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION support.jwt_keys_check() IS
    'Trigger: refuses (22023) a support.jwt_keys row whose key is too short for its HMAC algorithm or does not parse as its public-key algorithm.';

CREATE TRIGGER jwt_keys_check
    BEFORE INSERT OR UPDATE OF alg, key ON support.jwt_keys
    FOR EACH ROW EXECUTE FUNCTION support.jwt_keys_check();

-- Keys stored before 0.3.0 are not re-checked by the new trigger: name the
-- weak ones (support.authenticate() refuses tokens for them from now on).
DO $$
DECLARE
    k record;
BEGIN
    FOR k IN SELECT j.kid, j.alg, j.key FROM support.jwt_keys AS j ORDER BY j.kid LOOP
        BEGIN
            PERFORM support.check_jwt_key(k.kid, k.alg, k.key);
        EXCEPTION WHEN invalid_parameter_value THEN
            RAISE WARNING 'conversations_ext 0.3.0: support.jwt_keys row % is no longer usable: %', pg_catalog.quote_literal(k.kid), SQLERRM
                USING HINT = 'Store a stronger key under a new kid and deactivate this one.';
        END;
    END LOOP;
END
$$;

-- The drop guard also covers DROP SCHEMA support and DROP TABLE of a support table.
DROP EVENT TRIGGER conversations_ext_drop_guard;
CREATE EVENT TRIGGER conversations_ext_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP TABLE')
    EXECUTE FUNCTION support.drop_guard();
COMMENT ON FUNCTION support.drop_guard() IS
    'Event trigger: refuses DROP EXTENSION conversations_ext, DROP SCHEMA support and DROP TABLE of a support table while any support table holds rows, unless support.allow_drop_with_data is on.';

-- Membership management.
-- The caller's right to manage the members of a workspace; locks the workspace.
CREATE FUNCTION support.require_member_manager(workspace_id uuid, touches_owner boolean) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller_role text;
BEGIN
    PERFORM support.require_user_id();  -- 28000 without an end user
    PERFORM 1 FROM support.workspaces AS w
     WHERE w.id OPERATOR(pg_catalog.=) require_member_manager.workspace_id
       FOR NO KEY UPDATE;
    caller_role := support.workspace_role(require_member_manager.workspace_id);
    IF caller_role IS NULL THEN
        RAISE EXCEPTION 'workspace % not found', require_member_manager.workspace_id
            USING ERRCODE = 'P0002';
    END IF;
    IF caller_role NOT IN ('owner', 'admin') THEN
        RAISE EXCEPTION 'workspace role % cannot manage members', caller_role
            USING ERRCODE = '42501',
                  HINT = 'Only an owner or admin of the workspace adds, changes or removes members.';
    END IF;
    IF touches_owner AND caller_role OPERATOR(pg_catalog.<>) 'owner' THEN
        RAISE EXCEPTION 'only an owner grants, changes or removes the owner role'
            USING ERRCODE = '42501';
    END IF;
    RETURN caller_role;
END
$$;
COMMENT ON FUNCTION support.require_member_manager(uuid, boolean) IS
    'Internal: raises unless the current user may manage the workspace''s members (owner or admin; owner when the owner role is involved); locks the workspace row.';

-- The role of a member, locked; P0002 when the user is not a member.
CREATE FUNCTION support.locked_member_role(workspace_id uuid, user_id uuid) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_role text;
BEGIN
    SELECT m.role INTO found_role
      FROM support.workspace_members AS m
     WHERE m.workspace_id OPERATOR(pg_catalog.=) locked_member_role.workspace_id
       AND m.user_id OPERATOR(pg_catalog.=) locked_member_role.user_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % is not a member of workspace %', locked_member_role.user_id, locked_member_role.workspace_id
            USING ERRCODE = 'P0002';
    END IF;
    RETURN found_role;
END
$$;
COMMENT ON FUNCTION support.locked_member_role(uuid, uuid) IS
    'Internal: the role of a member, with the membership row locked; P0002 when not a member.';

-- Locks the conversations a member holds in a workspace (before the
-- membership row: the order a claim takes its locks in).
CREATE FUNCTION support.lock_claims_of(workspace_id uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM 1
       FROM support.conversations AS c
      WHERE c.workspace_id OPERATOR(pg_catalog.=) lock_claims_of.workspace_id
        AND c.claimed_by OPERATOR(pg_catalog.=) lock_claims_of.user_id
        FOR UPDATE;
END
$$;
COMMENT ON FUNCTION support.lock_claims_of(uuid, uuid) IS
    'Internal: locks the conversations a member holds in a workspace, before the membership row is locked (no deadlock with a claim).';

-- 55000 when the workspace would be left without an owner.
CREATE FUNCTION support.require_another_owner(workspace_id uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM support.workspace_members AS m
                    WHERE m.workspace_id OPERATOR(pg_catalog.=) require_another_owner.workspace_id
                      AND m.user_id OPERATOR(pg_catalog.<>) require_another_owner.user_id
                      AND m.role OPERATOR(pg_catalog.=) 'owner') THEN
        RAISE EXCEPTION 'user % is the last owner of workspace %', require_another_owner.user_id, require_another_owner.workspace_id
            USING ERRCODE = '55000',
                  HINT = 'Make another member owner first.';
    END IF;
END
$$;
COMMENT ON FUNCTION support.require_another_owner(uuid, uuid) IS
    'Internal: raises 55000 when the user is the last owner of the workspace.';

CREATE FUNCTION support.add_member(workspace_id uuid, user_id uuid, role text DEFAULT 'agent')
RETURNS support.workspace_members
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    added support.workspace_members;
BEGIN
    PERFORM support.require_member_manager(add_member.workspace_id, add_member.role OPERATOR(pg_catalog.=) 'owner');
    INSERT INTO support.workspace_members AS m (workspace_id, user_id, role)
    VALUES (add_member.workspace_id, add_member.user_id, add_member.role)
    RETURNING m.* INTO added;
    RETURN added;
END
$$;

CREATE FUNCTION support.set_member_role(workspace_id uuid, user_id uuid, role text)
RETURNS support.workspace_members
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    current_role_of_member text;
    changed support.workspace_members;
BEGIN
    -- Whether the owner role is involved depends on the member's current role:
    -- check the caller's right first with what the call asks, then again once
    -- the member's row is locked.
    PERFORM support.require_member_manager(set_member_role.workspace_id, set_member_role.role OPERATOR(pg_catalog.=) 'owner');
    -- Lock order: the member's conversations, then the membership row (the
    -- order a claim takes them in), so a demotion and a claim never deadlock.
    PERFORM support.lock_claims_of(set_member_role.workspace_id, set_member_role.user_id);
    current_role_of_member := support.locked_member_role(set_member_role.workspace_id, set_member_role.user_id);
    IF current_role_of_member OPERATOR(pg_catalog.=) 'owner' THEN
        PERFORM support.require_member_manager(set_member_role.workspace_id, true);
        IF set_member_role.role IS DISTINCT FROM 'owner' THEN
            PERFORM support.require_another_owner(set_member_role.workspace_id, set_member_role.user_id);
        END IF;
    END IF;
    UPDATE support.workspace_members AS m
       SET role = set_member_role.role
     WHERE m.workspace_id OPERATOR(pg_catalog.=) set_member_role.workspace_id
       AND m.user_id OPERATOR(pg_catalog.=) set_member_role.user_id
    RETURNING m.* INTO changed;
    RETURN changed;
END
$$;

CREATE FUNCTION support.remove_member(workspace_id uuid, user_id uuid)
RETURNS support.workspace_members
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    current_role_of_member text;
    removed support.workspace_members;
BEGIN
    PERFORM support.require_member_manager(remove_member.workspace_id, false);
    PERFORM support.lock_claims_of(remove_member.workspace_id, remove_member.user_id);
    current_role_of_member := support.locked_member_role(remove_member.workspace_id, remove_member.user_id);
    IF current_role_of_member OPERATOR(pg_catalog.=) 'owner' THEN
        PERFORM support.require_member_manager(remove_member.workspace_id, true);
        PERFORM support.require_another_owner(remove_member.workspace_id, remove_member.user_id);
    END IF;
    DELETE FROM support.workspace_members AS m
     WHERE m.workspace_id OPERATOR(pg_catalog.=) remove_member.workspace_id
       AND m.user_id OPERATOR(pg_catalog.=) remove_member.user_id
    RETURNING m.* INTO removed;
    RETURN removed;
END
$$;

-- Privileges: grant_usage is now exact, and covers the new objects.
CREATE OR REPLACE FUNCTION support.grant_usage(app_role pg_catalog.regrole) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text := app_role::text;   -- regrole output is already a quoted identifier
BEGIN
    IF app_role IS NULL THEN
        RAISE EXCEPTION 'support.grant_usage: role must not be NULL' USING ERRCODE = '22004';
    END IF;
    -- Exact, not additive: the role ends with precisely the privileges below,
    -- whatever an earlier version (or a hand-made GRANT) gave it. Upgrades call
    -- this again for every role that had it, so an application keeps working.
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA support FROM %s', r);
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA support FROM %s', r);
    EXECUTE format('GRANT USAGE ON SCHEMA support TO %s', r);

    -- Directory tables: read-only for end users (RLS narrows what they see).
    EXECUTE format('GRANT SELECT ON support.users, support.workspaces, support.workspace_members TO %s', r);

    -- Conversations: ids, lifecycle columns and timestamps are the database's.
    -- The lifecycle columns are granted for INSERT only so that an ORM may send
    -- them as NULL; the insert trigger refuses any other value, naming the column.
    EXECUTE format('GRANT SELECT, DELETE ON support.conversations TO %s', r);
    EXECUTE format('GRANT INSERT (workspace_id, bot_user_id, channel, status, subject, '
                   'claimed_by, claimed_at, escalated_at, resolved_at, first_agent_reply_at) '
                   'ON support.conversations TO %s', r);
    -- workspace_id is granted so that a move attempt meets the trigger's clear
    -- 0A000 error rather than a bare permission error; it never changes.
    EXECUTE format('GRANT UPDATE (workspace_id, bot_user_id, channel, subject) ON support.conversations TO %s', r);

    -- Messages: append, edit the text, delete; ids and timestamps are the database's.
    EXECUTE format('GRANT SELECT, DELETE ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT INSERT (workspace_id, conversation_id, role, author_id, content) ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT UPDATE (content) ON support.conversation_messages TO %s', r);

    -- The audit trails: read-only.
    EXECUTE format('GRANT SELECT ON support.conversation_events, support.member_events TO %s', r);

    -- The public functions (policies call the identity and membership helpers
    -- as the querying role, so those are needed too).
    EXECUTE format('GRANT EXECUTE ON FUNCTION support.current_user_id(), support.member_workspaces(), '
                   'support.workspace_member(uuid), support.workspace_role(uuid), '
                   'support.check_new_message(uuid, uuid, text), '
                   'support.escalate_conversation(uuid, text), support.claim_conversation(uuid), '
                   'support.claim_next_conversation(uuid), support.release_conversation(uuid), '
                   'support.transfer_conversation(uuid, uuid), support.resolve_conversation(uuid), '
                   'support.reopen_conversation(uuid), support.authenticate(text), '
                   'support.add_member(uuid, uuid, text), support.set_member_role(uuid, uuid, text), '
                   'support.remove_member(uuid, uuid) TO %s', r);
END
$$;

COMMENT ON FUNCTION support.check_new_message(uuid, uuid, text) IS
    'Internal (conversation_messages trigger, runs as the application role): the author_id to store for a message the current user posts (the caller), or 42501 when the caller''s role may not post that message role or names another author.';
COMMENT ON FUNCTION support.require_user_id() IS
    'Internal (membership functions): the calling end user, or 28000 naming an identity setting ignored because an earlier transaction left it.';
COMMENT ON FUNCTION support.unassign_claims(uuid, uuid) IS
    'Internal (workspace_members trigger): returns the conversations a member holds in a workspace to the queue, against the latest snapshot (40001 under REPEATABLE READ when a claim it could not see committed).';
COMMENT ON FUNCTION support.restoring() IS
    'Internal (triggers): true while a role that bypasses row-level security runs with row_security = off (pg_dump scripts, pg_restore): rows are taken as given and no events are written.';
COMMENT ON FUNCTION support.check_jwt_key(text, text, text) IS
    'Internal (jwt_keys trigger): raises 22023 for an HMAC secret shorter than 32/48/64 bytes (HS256/384/512) or a public key that does not parse.';

-- Catalog comments of the public functions (the text of docs/api.md).
-- catalog comments: begin (generated by scripts/catalog_comments.py from docs/api.md)
COMMENT ON FUNCTION support.current_user_id() IS
    'The end user of the current transaction, or NULL for nobody. A token verified by support.authenticate() in this transaction comes first; in support.identity_mode = claims the first of request.jwt.claims (its sub), request.jwt.claim.sub and support.user_id that this transaction set decides. A value left from an earlier transaction or a session-level SET is ignored. A subject that is not a UUID, or claims that are not JSON, raise 22P02.';
COMMENT ON FUNCTION support.member_workspaces() IS
    'Ids of the workspaces the current user belongs to, whatever the role (an empty array for nobody). Every row-level security policy is workspace_id = ANY ((SELECT support.member_workspaces())::uuid[]), which PostgreSQL evaluates once per statement.';
COMMENT ON FUNCTION support.workspace_member(uuid) IS
    'True when the current user is a member of the workspace, whatever the role; false otherwise, also for a workspace that does not exist and for nobody.';
COMMENT ON FUNCTION support.workspace_role(uuid) IS
    'The current user''s effective role in the workspace: owner, admin, agent or viewer, or bot for a user of kind bot whose role is not viewer (a bot with role viewer is a viewer). NULL when the current user is not a member. The role decides every write (docs/permissions.md).';
COMMENT ON FUNCTION support.authenticate(text) IS
    'Verifies a JWT against support.jwt_keys and makes its sub the current user until the end of the current transaction (also undone when the savepoint it was called in is rolled back). The key named by the token''s kid (without kid: the only active key of the token''s algorithm) decides the algorithm: HS256, HS384, HS512, EdDSA (Ed25519) or ES256. Checks the signature, exp (required), nbf, aud and iss when the key row sets them (30 s leeway), and that sub is a UUID. Any refusal raises 28000 with the message invalid token; the reason goes to the server log only.';
COMMENT ON FUNCTION support.escalate_conversation(uuid,text) IS
    'Hands an active conversation to the human queue: active -> escalated, escalated_at = now() starts the wait clock; reason goes to the audit trail. Any member but a viewer (typically the bot). Errors: 28000 no current user, P0002 not found, 42501 viewer, 55000 not active.';
COMMENT ON FUNCTION support.claim_conversation(uuid) IS
    'The current user takes over an escalated conversation: escalated -> claimed, claimed_by = the caller. Of agents racing for it exactly one wins; claiming one''s own claimed conversation again returns it unchanged. A human agent, admin or owner of the workspace. Errors: 28000 no current user, P0002 not found, 42501 viewer or bot, 55006 claimed by another agent, 55000 not escalated.';
COMMENT ON FUNCTION support.claim_next_conversation(uuid) IS
    'The current user claims the oldest waiting conversation of the workspace (escalated, oldest escalated_at first; FOR UPDATE SKIP LOCKED, so agents never wait on each other). Returns NULL when the queue is empty. A human agent, admin or owner of the workspace. Errors: 28000 no current user, P0002 workspace not found, 42501 viewer or bot.';
COMMENT ON FUNCTION support.release_conversation(uuid) IS
    'Puts a claimed conversation back in the queue: claimed -> escalated, keeping its original wait time. Its owner, or an admin or owner of the workspace (supervisor action). Errors: 28000 no current user, P0002 not found, 42501 viewer, bot or another agent''s claim, 55000 not claimed.';
COMMENT ON FUNCTION support.transfer_conversation(uuid,uuid) IS
    'Hands a claimed conversation to another human agent, admin or owner of the same workspace (to_user). Its owner, or an admin or owner of the workspace (supervisor action). Errors: 28000 no current user, P0002 not found, 42501 caller may not or target is a viewer or bot, 22023 target not a member of the workspace, 55000 not claimed.';
COMMENT ON FUNCTION support.resolve_conversation(uuid) IS
    'Closes a conversation: claimed or active -> resolved, resolved_at = now(). A claimed one: its owner, or an admin or owner of the workspace; an active one: any agent, admin, owner or bot (the bot solved it). Errors: 28000 no current user, P0002 not found, 42501 viewer, bot on a claim or another agent''s claim, 55000 escalated or already resolved.';
COMMENT ON FUNCTION support.reopen_conversation(uuid) IS
    'Reopens a resolved conversation for a human: resolved -> escalated with a new wait clock (escalated_at = now()), resolved_at cleared, reopen_count + 1. Any member but a viewer. Errors: 28000 no current user, P0002 not found, 42501 viewer, 55000 not resolved.';
COMMENT ON FUNCTION support.add_member(uuid,uuid,text) IS
    'An owner or admin adds a user to the workspace with a role (default agent; only an owner adds an owner). Returns the new membership; recorded in support.member_events as added. Errors: 28000 no current user, P0002 workspace not found, 42501 caller''s role, 23505 already a member, 23503 no such user, 23514 unknown role.';
COMMENT ON FUNCTION support.set_member_role(uuid,uuid,text) IS
    'An owner or admin changes a member''s role. Only an owner grants, changes or removes the owner role, and the last owner cannot be demoted (55000). Demoting a member to viewer returns their claims to the queue. Returns the changed membership; recorded in support.member_events as role_changed. Errors: 28000 no current user, P0002 workspace not found or user not a member, 42501 caller''s role, 55000 last owner, 23514 unknown role.';
COMMENT ON FUNCTION support.remove_member(uuid,uuid) IS
    'An owner or admin removes a member (only an owner removes an owner; the last owner cannot be removed: 55000). Their claims return to the queue; their messages stay, with author_id NULL. Returns the removed membership; recorded in support.member_events as removed. Errors: 28000 no current user, P0002 workspace not found or user not a member, 42501 caller''s role, 55000 last owner.';
COMMENT ON FUNCTION support.grant_usage(regrole) IS
    'Gives an application role exactly what its end users need, revoking anything else it had on support objects: USAGE on the schema, column-level privileges on the tables (row-level security applies), and EXECUTE on the public functions. Idempotent; ALTER EXTENSION UPDATE re-applies it to every role that had it. For the DBA (superuser or extension owner).';
-- catalog comments: end
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA support FROM PUBLIC;

-- Every role given grant_usage before this update (it holds USAGE on the
-- schema) gets exactly what grant_usage gives now: applications keep working
-- through ALTER EXTENSION ... UPDATE, new functions and tables included.
DO $$
DECLARE
    grantee pg_catalog.regrole;
BEGIN
    FOR grantee IN
        SELECT DISTINCT a.grantee::pg_catalog.regrole
          FROM pg_catalog.pg_namespace AS n,
               pg_catalog.aclexplode(n.nspacl) AS a
         WHERE n.nspname OPERATOR(pg_catalog.=) 'support'
           AND a.privilege_type OPERATOR(pg_catalog.=) 'USAGE'
           AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner
           AND a.grantee OPERATOR(pg_catalog.<>) 0
         ORDER BY 1
    LOOP
        PERFORM support.grant_usage(grantee);
    END LOOP;
END
$$;
