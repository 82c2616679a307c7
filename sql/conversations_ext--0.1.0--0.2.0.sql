-- conversations_ext 0.1.0 -> 0.2.0 (hand-written; checked by pg_test/tests/upgrade.rs,
-- which compares everything the extension owns after this script with a fresh
-- 0.2.0 install, by name).
--
-- 0.2.0: the conversation lifecycle (escalate, claim_next, release, transfer,
-- resolve, reopen), the audit trail, queue timestamps, verified identity
-- (support.authenticate, support.jwt_keys, support.identity_mode), the DROP
-- EXTENSION guard, restore-safe triggers.
\echo Use "ALTER EXTENSION conversations_ext UPDATE TO '0.2.0'" to load this file. \quit

-- Queue timestamps (appended: columns are compared by name, not position).
ALTER TABLE support.conversations
    ADD COLUMN first_agent_reply_at timestamptz,
    ADD COLUMN reopen_count integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN support.conversations.claimed_at IS 'When the current owner took the conversation.';
COMMENT ON COLUMN support.conversations.resolved_at IS 'When it was resolved (cleared on reopen).';
COMMENT ON COLUMN support.conversations.first_agent_reply_at IS
    'Time of the first message with role agent after the conversation was first escalated (set by trigger).';
COMMENT ON COLUMN support.conversations.reopen_count IS 'How many times a resolved conversation was reopened.';

-- The agent queue index, and the inbox index.
CREATE INDEX conversations_queue_idx ON support.conversations (workspace_id, escalated_at, id)
    WHERE status = 'escalated';
-- The inbox: newest conversations of a workspace. "Newest 50 across my
-- workspaces" reads at most 50 per workspace through it (see the README's
-- inbox query), so its cost does not grow with the data.
CREATE INDEX conversations_inbox_idx ON support.conversations (workspace_id, created_at DESC, id);
-- Open conversations per workspace and status (support dashboards: "how many
-- active / escalated / claimed in my workspaces"). Partial, so a count over
-- the open ones never depends on a generic plan's guess about the array of
-- workspaces, and stays small as resolved conversations pile up.
CREATE INDEX conversations_open_idx ON support.conversations (workspace_id, status)
    WHERE status IN ('active', 'escalated', 'claimed');

-- A message's conversation determines its workspace: a workspace filter (the
-- policy's or the application's) must not be estimated as a second,
-- independent restriction (measured: the transcript plan otherwise drifts to a
-- BitmapAnd over the primary key).
CREATE STATISTICS support.conversation_messages_conversation_workspace (dependencies)
    ON conversation_id, workspace_id FROM support.conversation_messages;

-- Audit trail: every state and ownership change of a conversation, written by
-- the database (triggers) whatever caused it. Append-only for everyone but the
-- table owner; no foreign keys, so events outlive the conversations and users
-- they name.
CREATE TABLE support.conversation_events (
    workspace_id    uuid        NOT NULL,
    id              uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    conversation_id uuid        NOT NULL,
    actor_id        uuid,
    kind            text        NOT NULL,
    from_status     text,
    to_status       text,
    from_owner      uuid,
    to_owner        uuid,
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    CONSTRAINT conversation_events_pkey PRIMARY KEY (workspace_id, id),
    CONSTRAINT conversation_events_kind_valid CHECK (kind IN (
        'created', 'escalated', 'claimed', 'released', 'transferred', 'resolved',
        'reopened', 'unassigned', 'changed', 'deleted'))
);
CREATE INDEX conversation_events_conversation_idx
    ON support.conversation_events (conversation_id, created_at);
COMMENT ON TABLE support.conversation_events IS
    'Append-only audit of every conversation state and ownership change (written by triggers; members read their workspace''s events).';
COMMENT ON COLUMN support.conversation_events.actor_id IS
    'support.current_user_id() of the statement that caused the change (NULL: the DBA or a foreign-key action without an end user).';
COMMENT ON COLUMN support.conversation_events.kind IS
    'created | escalated | claimed | released | transferred | resolved | reopened | unassigned (owner removed) | changed (other direct edit by the table owner) | deleted';
COMMENT ON COLUMN support.conversation_events.created_at IS
    'clock_timestamp() of the change: per conversation, events order as the changes happened (changes to one row are serialised by its lock).';


-- Keys that support.authenticate() verifies tokens with. Readable and writable
-- only by the table owner (no privilege for anyone else, RLS on with no
-- policy): never in settings, which every role can read in pg_db_role_setting.
CREATE TABLE support.jwt_keys (
    kid        text        NOT NULL,
    alg        text        NOT NULL,
    key        text        NOT NULL,
    audience   text,
    issuer     text,
    active     boolean     NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT jwt_keys_pkey PRIMARY KEY (kid),
    CONSTRAINT jwt_keys_alg_valid CHECK (alg IN ('HS256', 'HS384', 'HS512', 'EdDSA', 'ES256'))
);
REVOKE ALL ON support.jwt_keys FROM PUBLIC;
COMMENT ON TABLE support.jwt_keys IS
    'Token verification keys for support.authenticate(). Several may be active at once (rotation by kid). Owner-only.';
COMMENT ON COLUMN support.jwt_keys.kid IS 'Key id; tokens name it in their header (kid).';
COMMENT ON COLUMN support.jwt_keys.alg IS 'HS256 | HS384 | HS512 | EdDSA (Ed25519) | ES256. The key decides the algorithm, never the token.';
COMMENT ON COLUMN support.jwt_keys.key IS 'HS*: the shared secret. EdDSA / ES256: the public key, PEM (-----BEGIN PUBLIC KEY-----).';
COMMENT ON COLUMN support.jwt_keys.audience IS 'When set, tokens must carry this aud.';
COMMENT ON COLUMN support.jwt_keys.issuer IS 'When set, tokens must carry this iss.';


SELECT pg_catalog.pg_extension_config_dump('support.conversation_events', '');
SELECT pg_catalog.pg_extension_config_dump('support.jwt_keys', '');

ALTER TABLE support.conversation_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.jwt_keys            ENABLE ROW LEVEL SECURITY;
CREATE POLICY conversation_events_select_member ON support.conversation_events FOR SELECT
    USING (workspace_id OPERATOR(pg_catalog.=) ANY ((SELECT support.member_workspaces())::uuid[]));

-- New Rust functions (definitions as generated by pgrx for 0.2.0).
CREATE FUNCTION support."lifecycle_pending"(
	"conversation_id" uuid
) RETURNS TEXT[]
STRICT VOLATILE PARALLEL RESTRICTED
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'lifecycle_pending_wrapper';

CREATE FUNCTION support."escalate_conversation"(
	"id" uuid,
	"reason" TEXT DEFAULT NULL
) RETURNS support.conversations
VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'escalate_conversation_wrapper';

CREATE FUNCTION support."claim_next_conversation"(
	"workspace_id" uuid
) RETURNS support.conversations
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'claim_next_conversation_wrapper';

CREATE FUNCTION support."release_conversation"(
	"id" uuid
) RETURNS support.conversations
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'release_conversation_wrapper';

CREATE FUNCTION support."transfer_conversation"(
	"id" uuid,
	"to_user" uuid
) RETURNS support.conversations
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'transfer_conversation_wrapper';

CREATE FUNCTION support."resolve_conversation"(
	"id" uuid
) RETURNS support.conversations
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'resolve_conversation_wrapper';

CREATE FUNCTION support."reopen_conversation"(
	"id" uuid
) RETURNS support.conversations
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'reopen_conversation_wrapper';

CREATE FUNCTION support."authenticate"(
	"token" TEXT
) RETURNS uuid
STRICT VOLATILE SECURITY DEFINER PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'authenticate_wrapper';

-- Triggers: lifecycle columns now include first_agent_reply_at and reopen_count.
CREATE OR REPLACE FUNCTION support.conversations_before_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF pg_catalog.row_security_active('support.conversations'::pg_catalog.regclass) THEN
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
        NEW.claimed_by   := NULL;
        NEW.claimed_at   := NULL;
        NEW.resolved_at  := NULL;
        NEW.first_agent_reply_at := NULL;
        NEW.reopen_count := 0;
        NEW.escalated_at := CASE WHEN NEW.status = 'escalated' THEN pg_catalog.now() END;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION support.conversations_before_insert() IS
    'Trigger: for application roles, a new conversation starts active or escalated with server-set lifecycle timestamps.';


CREATE OR REPLACE FUNCTION support.conversations_before_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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

    IF pg_catalog.row_security_active('support.conversations'::pg_catalog.regclass)
       AND (NEW.status, NEW.claimed_by, NEW.claimed_at, NEW.escalated_at, NEW.resolved_at,
            NEW.first_agent_reply_at, NEW.reopen_count)
           IS DISTINCT FROM
           (OLD.status, OLD.claimed_by, OLD.claimed_at, OLD.escalated_at, OLD.resolved_at,
            OLD.first_agent_reply_at, OLD.reopen_count)
    THEN
        IF NEW.status NOT IN ('active', 'escalated', 'claimed', 'resolved') THEN
            RETURN NEW;  -- let the CHECK constraint report the typo (23514)
        END IF;
        RAISE EXCEPTION 'the lifecycle of conversation % is changed only through the support.* functions', OLD.id
            USING ERRCODE = '42501',
                  DETAIL = 'status, claimed_by, claimed_at, escalated_at, resolved_at, first_agent_reply_at and reopen_count cannot be written directly.',
                  HINT = 'Use support.escalate_conversation(), claim_conversation(), claim_next_conversation(), release_conversation(), transfer_conversation(), resolve_conversation() or reopen_conversation().';
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
    'Trigger: workspace_id is immutable; lifecycle columns are not writable by application roles; an owner removed by the foreign-key action sends the conversation back to escalated; maintains updated_at.';


-- conversations, AFTER INSERT/UPDATE/DELETE: the audit trail. SECURITY DEFINER
-- (application roles have no privilege on conversation_events). The kind comes
-- from the lifecycle function that made the change (support.lifecycle_pending,
-- backend memory no setting can reach) or, for any other path, from the change
-- itself: an owner removed by the foreign-key action is 'unassigned'.
CREATE FUNCTION support.conversations_audit() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pending text[];
    event_kind text;
BEGIN
    IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off' THEN
        RETURN NULL;  -- restore mode: the dump carries the original events
    END IF;
    IF TG_OP = 'INSERT' THEN
        INSERT INTO support.conversation_events
               (workspace_id, conversation_id, actor_id, kind, to_status, to_owner)
        VALUES (NEW.workspace_id, NEW.id, support.current_user_id(), 'created', NEW.status, NEW.claimed_by);
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO support.conversation_events
               (workspace_id, conversation_id, actor_id, kind, from_status, from_owner)
        VALUES (OLD.workspace_id, OLD.id, support.current_user_id(), 'deleted', OLD.status, OLD.claimed_by);
        RETURN NULL;
    END IF;

    IF (OLD.status, OLD.claimed_by) IS NOT DISTINCT FROM (NEW.status, NEW.claimed_by) THEN
        RETURN NULL;  -- not a state or ownership change
    END IF;
    pending := support.lifecycle_pending(NEW.id);
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

CREATE TRIGGER conversations_audit
    AFTER INSERT OR UPDATE OR DELETE ON support.conversations
    FOR EACH ROW EXECUTE FUNCTION support.conversations_audit();

-- conversation_messages, AFTER INSERT: the first agent reply after escalation
-- stamps first_agent_reply_at. SECURITY DEFINER: application roles cannot
-- write that column themselves.
CREATE FUNCTION support.conversation_messages_first_reply() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.role OPERATOR(pg_catalog.=) 'agent'
       AND pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.<>) 'off' THEN
        UPDATE support.conversations AS c
           SET first_agent_reply_at = NEW.created_at
         WHERE c.workspace_id OPERATOR(pg_catalog.=) NEW.workspace_id
           AND c.id OPERATOR(pg_catalog.=) NEW.conversation_id
           AND c.first_agent_reply_at IS NULL
           AND c.escalated_at IS NOT NULL
           AND c.escalated_at OPERATOR(pg_catalog.<=) NEW.created_at;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.conversation_messages_first_reply() IS
    'Trigger: the first message with role agent after escalation sets conversations.first_agent_reply_at.';

CREATE TRIGGER conversation_messages_first_reply
    AFTER INSERT ON support.conversation_messages
    FOR EACH ROW EXECUTE FUNCTION support.conversation_messages_first_reply();

-- conversations_ext: refuse DROP EXTENSION while tenant data exists.
-- DROP EXTENSION drops every support table with its rows. The event trigger
-- below (C, see src/drop_guard.rs: it reads which extensions the statement
-- names from the parse tree) refuses it unless the superuser-only setting
-- support.allow_drop_with_data is on, e.g.
--   BEGIN; SET LOCAL support.allow_drop_with_data = on; DROP EXTENSION conversations_ext; COMMIT;
CREATE FUNCTION support.drop_guard() RETURNS event_trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'conversations_ext_drop_guard';
COMMENT ON FUNCTION support.drop_guard() IS
    'Event trigger: refuses DROP EXTENSION conversations_ext while any support table holds rows, unless support.allow_drop_with_data is on.';

CREATE EVENT TRIGGER conversations_ext_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION support.drop_guard();

-- Grants and catalog documentation.
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
    EXECUTE format('GRANT USAGE ON SCHEMA support TO %s', r);

    -- Directory tables: read-only for end users (RLS narrows what they see).
    EXECUTE format('GRANT SELECT ON support.users, support.workspaces, support.workspace_members TO %s', r);

    -- Conversations: ids, lifecycle columns and timestamps are the database's.
    EXECUTE format('GRANT SELECT, DELETE ON support.conversations TO %s', r);
    EXECUTE format('GRANT INSERT (workspace_id, bot_user_id, channel, status, subject) ON support.conversations TO %s', r);
    -- workspace_id is granted so that a move attempt meets the trigger's clear
    -- 0A000 error rather than a bare permission error; it never changes.
    EXECUTE format('GRANT UPDATE (workspace_id, bot_user_id, channel, subject) ON support.conversations TO %s', r);

    -- Messages: append, edit the text, delete; ids and timestamps are the database's.
    EXECUTE format('GRANT SELECT, DELETE ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT INSERT (workspace_id, conversation_id, role, author_id, content) ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT UPDATE (content) ON support.conversation_messages TO %s', r);

    -- The audit trail: read-only.
    EXECUTE format('GRANT SELECT ON support.conversation_events TO %s', r);

    -- The public functions (policies call the identity and membership helpers
    -- as the querying role, so those are needed too).
    EXECUTE format('GRANT EXECUTE ON FUNCTION support.current_user_id(), support.member_workspaces(), '
                   'support.workspace_member(uuid), '
                   'support.escalate_conversation(uuid, text), support.claim_conversation(uuid), '
                   'support.claim_next_conversation(uuid), support.release_conversation(uuid), '
                   'support.transfer_conversation(uuid, uuid), support.resolve_conversation(uuid), '
                   'support.reopen_conversation(uuid), support.authenticate(text) TO %s', r);
END
$$;
COMMENT ON FUNCTION support.grant_usage(pg_catalog.regrole) IS
    'Grants an application role what its end users need: schema usage, column-level table privileges (RLS applies), and EXECUTE on the public functions.';


-- Catalog documentation of the Rust functions (\df+ support.*).
COMMENT ON FUNCTION support.current_user_id() IS
    'The calling end user: sub of request.jwt.claims, else request.jwt.claim.sub, else support.user_id; the first source that is set decides. NULL = nobody; a non-UUID subject is an error (22P02).';
COMMENT ON FUNCTION support.member_workspaces() IS
    'Ids of the workspaces the current user belongs to (empty for nobody). Used by every policy as workspace_id = ANY ((SELECT support.member_workspaces())::uuid[]).';
COMMENT ON FUNCTION support.workspace_member(uuid) IS
    'True iff the current user is a member of the workspace (presence only; role is not consulted).';
COMMENT ON FUNCTION support.claim_conversation(uuid) IS
    'The current user takes over an escalated conversation of one of their workspaces (atomic; exactly one of racing agents wins). Errors: 28000 no identity, P0002 not found, 55006 claimed by another agent, 55000 not escalated, 42501 role viewer.';

COMMENT ON FUNCTION support.escalate_conversation(uuid, text) IS
    'Bot hands off: active -> escalated, escalated_at = now() (the wait clock); reason goes to the audit trail.';
COMMENT ON FUNCTION support.claim_next_conversation(uuid) IS
    'Claims the oldest escalated conversation of the workspace (FOR UPDATE SKIP LOCKED); NULL when the queue is empty. Needs workspace role agent, admin or owner.';
COMMENT ON FUNCTION support.release_conversation(uuid) IS
    'The owner puts a claimed conversation back in the queue (claimed -> escalated, original wait time kept).';
COMMENT ON FUNCTION support.transfer_conversation(uuid, uuid) IS
    'The owner hands a claimed conversation to another member (agent, admin or owner) of the same workspace.';
COMMENT ON FUNCTION support.resolve_conversation(uuid) IS
    'claimed (by the caller) or active -> resolved, resolved_at = now().';
COMMENT ON FUNCTION support.reopen_conversation(uuid) IS
    'resolved -> escalated: new wait clock, resolved_at cleared, reopen_count + 1.';
COMMENT ON FUNCTION support.lifecycle_pending(uuid) IS
    'Internal (audit trigger): kind and reason of the lifecycle function changing that conversation right now. Not granted to application roles.';

COMMENT ON FUNCTION support.authenticate(text) IS
    'Verifies a JWT (HS256/384/512, EdDSA, ES256) against support.jwt_keys (signature, kid, exp, nbf, aud/iss when configured) and makes its sub the current user for the current transaction only. 28000 on any failure.';


REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA support FROM PUBLIC;
