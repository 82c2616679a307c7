-- conversations_ext: tables, constraints and indexes of the `support` schema.
--
-- Tenancy rule (Citus multi-tenant style): every tenant table's primary key
-- leads with workspace_id and every foreign key between tenant tables carries
-- workspace_id. `id` alone is not declared unique; application roles can never
-- choose an id (no INSERT privilege on it), so a database-generated id names
-- exactly one row.

-- The Rust functions read text as UTF-8: refuse other database encodings
-- up front rather than fail later on the first non-ASCII value.
DO $$
BEGIN
    IF pg_catalog.getdatabaseencoding() OPERATOR(pg_catalog.<>) 'UTF8' THEN
        RAISE EXCEPTION 'conversations_ext needs a UTF8 database, this one is %', pg_catalog.getdatabaseencoding()
            USING ERRCODE = '0A000',
                  HINT = 'CREATE DATABASE ... ENCODING ''UTF8'' TEMPLATE template0';
    END IF;
END
$$;

-- Principals referenced by conversations (on Supabase: the auth.users ids).
CREATE TABLE support.users (
    id           uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    kind         text        NOT NULL DEFAULT 'human',
    display_name text,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_kind_valid CHECK (kind IN ('human', 'bot'))
);
COMMENT ON TABLE support.users IS
    'Principals (humans and bots) that can own or author conversation rows. On Supabase, id = auth.users.id.';
COMMENT ON COLUMN support.users.kind IS 'human | bot';

-- Tenants.
CREATE TABLE support.workspaces (
    id           uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    name         text        NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- Whether the platform's support staff (support.staff) serve this
    -- workspace; its owner decides (support.set_staff_access).
    staff_access boolean     NOT NULL DEFAULT true,
    -- The text search configuration of the workspace's messages
    -- (support.search_messages); its owner or an admin sets it
    -- (support.set_search_config).
    search_config text       NOT NULL DEFAULT 'simple',
    CONSTRAINT workspaces_pkey PRIMARY KEY (id)
);
COMMENT ON COLUMN support.workspaces.search_config IS
    'Text search configuration of the workspace''s messages (default simple: no stemming, any language). Set with support.set_search_config.';
COMMENT ON TABLE support.workspaces IS
    'Tenants. Row-level security keys every tenant table on membership of a workspace.';

-- Who belongs to which workspace. Presence of a row is what RLS checks;
-- `role` is never read by a policy (it gates writes and actions: see
-- docs/permissions.tsv).
CREATE TABLE support.workspace_members (
    workspace_id uuid        NOT NULL,
    user_id      uuid        NOT NULL,
    role         text        NOT NULL DEFAULT 'agent',
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- Joined through support.join_as_staff: removed again when the workspace
    -- refuses staff access.
    joined_as_staff boolean  NOT NULL DEFAULT false,
    CONSTRAINT workspace_members_pkey PRIMARY KEY (workspace_id, user_id),
    CONSTRAINT workspace_members_role_valid CHECK (role IN ('owner', 'admin', 'agent', 'viewer')),
    CONSTRAINT workspace_members_workspace_fkey FOREIGN KEY (workspace_id)
        REFERENCES support.workspaces (id) ON DELETE CASCADE,
    CONSTRAINT workspace_members_user_fkey FOREIGN KEY (user_id)
        REFERENCES support.users (id) ON DELETE CASCADE
);
-- Membership lookup by user (the RLS helper's query); covers workspace_id
-- so it is an index-only scan.
CREATE INDEX workspace_members_user_idx ON support.workspace_members (user_id, workspace_id);
COMMENT ON TABLE support.workspace_members IS
    'Membership of users in workspaces. A row here is what grants visibility of the workspace''s conversations.';
COMMENT ON COLUMN support.workspace_members.role IS
    'owner | admin | agent | viewer. Not used by any RLS policy (visibility is presence-only); decides what a member may write and do (docs/permissions.md).';

-- Conversations.
CREATE TABLE support.conversations (
    id           uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    workspace_id uuid        NOT NULL,
    bot_user_id  uuid,
    channel      text        NOT NULL DEFAULT 'web',
    status       text        NOT NULL DEFAULT 'active',
    subject      text,
    claimed_by   uuid,
    claimed_at   timestamptz,
    escalated_at timestamptz,
    resolved_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    first_agent_reply_at timestamptz,
    reopen_count integer     NOT NULL DEFAULT 0,
    -- #1, #2, ... per workspace, gapless, assigned on insert by the trigger
    -- conversations_number from support.conversation_counters.
    number       bigint      NOT NULL,
    CONSTRAINT conversations_pkey PRIMARY KEY (workspace_id, id),
    CONSTRAINT conversations_number_unique UNIQUE (workspace_id, number),
    CONSTRAINT conversations_status_valid
        CHECK (status IN ('active', 'escalated', 'claimed', 'resolved')),
    CONSTRAINT conversations_channel_valid
        CHECK (channel IN ('web', 'email', 'sms', 'whatsapp', 'voice', 'api')),
    -- A claimed conversation always has an owner, and only a claimed one has.
    CONSTRAINT conversations_claim_has_owner
        CHECK ((status = 'claimed') = (claimed_by IS NOT NULL)),
    -- Deleting a workspace that still has conversations fails (23503).
    CONSTRAINT conversations_workspace_fkey FOREIGN KEY (workspace_id)
        REFERENCES support.workspaces (id),
    -- The bot and the owner must be members of the conversation's workspace;
    -- when they leave it (or are deleted), the column is set NULL.
    CONSTRAINT conversations_bot_member_fkey FOREIGN KEY (workspace_id, bot_user_id)
        REFERENCES support.workspace_members (workspace_id, user_id) ON DELETE SET NULL (bot_user_id),
    CONSTRAINT conversations_owner_member_fkey FOREIGN KEY (workspace_id, claimed_by)
        REFERENCES support.workspace_members (workspace_id, user_id) ON DELETE SET NULL (claimed_by)
);
-- Look-ups by id alone (the functions' entry point).
CREATE INDEX conversations_id_idx ON support.conversations (id);
-- Agent queue / per-status counts within a workspace.
CREATE INDEX conversations_workspace_status_idx ON support.conversations (workspace_id, status);
-- The agent queue: "oldest waiting in workspace W" is an index scan that
-- stops at the first row (claim_next_conversation, queue listings).
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
-- Columns used by ON DELETE SET NULL actions: deleting a user never scans the table.
CREATE INDEX conversations_bot_user_idx ON support.conversations (bot_user_id) WHERE bot_user_id IS NOT NULL;
CREATE INDEX conversations_claimed_by_idx ON support.conversations (claimed_by) WHERE claimed_by IS NOT NULL;

COMMENT ON TABLE support.conversations IS
    'Support conversations. Visible and writable only by members of the workspace (RLS).';
COMMENT ON COLUMN support.conversations.workspace_id IS 'Owning workspace; immutable once created.';
COMMENT ON COLUMN support.conversations.status IS
    'active (a bot handles it) | escalated (waiting in the agent queue) | claimed (a human agent owns it) | resolved. Changed only through the support.* lifecycle functions by application roles.';
COMMENT ON COLUMN support.conversations.channel IS 'web | email | sms | whatsapp | voice | api';
COMMENT ON COLUMN support.conversations.claimed_by IS
    'Owning agent (a workspace member) while status = claimed. Removing that member returns the conversation to escalated.';
COMMENT ON COLUMN support.conversations.escalated_at IS 'Start of the current wait in the agent queue.';
COMMENT ON COLUMN support.conversations.updated_at IS 'Maintained by trigger on every UPDATE.';
COMMENT ON COLUMN support.conversations.claimed_at IS 'When the current owner took the conversation.';
COMMENT ON COLUMN support.conversations.resolved_at IS 'When it was resolved (cleared on reopen).';
COMMENT ON COLUMN support.conversations.first_agent_reply_at IS
    'Time of the first message with role agent after the conversation was first escalated (set by trigger).';
COMMENT ON COLUMN support.conversations.reopen_count IS 'How many times a resolved conversation was reopened.';
COMMENT ON COLUMN support.conversations.number IS
    'The conversation''s number in its workspace: 1, 2, 3, ... in insert order, without gaps; assigned by the database, never by the application.';

-- The last conversation number of each workspace. The BEFORE INSERT trigger
-- conversations_number takes the next one under this row's lock: numbers are
-- gapless per workspace (a rolled-back insert rolls the counter back with it),
-- and the inserts of one workspace wait for each other's commit
-- (docs/api.md#conversation-numbers). Owner-only; dumped with the
-- conversations, so a restore keeps both.
CREATE TABLE support.conversation_counters (
    workspace_id uuid   NOT NULL,
    last_number  bigint NOT NULL,
    CONSTRAINT conversation_counters_pkey PRIMARY KEY (workspace_id),
    CONSTRAINT conversation_counters_workspace_fkey FOREIGN KEY (workspace_id)
        REFERENCES support.workspaces (id) ON DELETE CASCADE
);
REVOKE ALL ON support.conversation_counters FROM PUBLIC;
COMMENT ON TABLE support.conversation_counters IS
    'The last conversation number given in each workspace (support.conversations.number). Written by trigger only. Owner-only.';

-- The words of a message under a text search configuration named in text,
-- and its workspace's lexeme: the generation expression of
-- conversation_messages.search_vector (sql/59_search.sql says how a search
-- uses the lexeme). The configuration is stored by name, not as regconfig:
-- pg_upgrade refuses reg* columns other than regclass, regrole and regtype.
-- IMMUTABLE as to_tsvector(regconfig, text) is: for as long as a
-- configuration keeps its name and definition.
CREATE FUNCTION support.search_vector(config text, workspace_id uuid, content text) RETURNS tsvector
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.to_tsvector(config::pg_catalog.regconfig, content)
           OPERATOR(pg_catalog.||) pg_catalog.array_to_tsvector(
               ARRAY['workspace:' OPERATOR(pg_catalog.||) workspace_id::text])
$$;
COMMENT ON FUNCTION support.search_vector(text, uuid, text) IS
    'Internal (generation expression of conversation_messages.search_vector): the words of content under the text search configuration named config, and the lexeme workspace:<workspace_id>.';

-- Messages of a conversation. workspace_id is denormalised (and enforced by the
-- composite foreign key) so that RLS can scope messages without a join.
CREATE TABLE support.conversation_messages (
    id              uuid        NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
    -- Filled from the parent conversation by the insert trigger when omitted.
    -- The default is an expression that yields NULL (a bare NULL is not stored
    -- as a default), so that an ORM reflecting the table sees that the database
    -- supplies this key column and reads it back (RETURNING).
    workspace_id    uuid        NOT NULL DEFAULT NULLIF(NULL::uuid, NULL::uuid),
    conversation_id uuid        NOT NULL,
    role            text        NOT NULL,
    author_id       uuid,
    content         text        NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- Full text search (support.search_messages): the workspace's text search
    -- configuration when the message was posted (set by the insert trigger),
    -- and the message's words under it, plus one lexeme naming its workspace,
    -- 'workspace:<id>' (no parser makes it from text: ':' ends a word). A
    -- search asks the GIN index for its words AND one of the caller's
    -- workspaces' lexemes, so the index intersects the two and the cost
    -- follows the caller's matching messages, not every tenant's.
    search_config   text        NOT NULL DEFAULT 'simple',
    search_vector   tsvector    GENERATED ALWAYS AS (
        support.search_vector(search_config, workspace_id, content)) STORED,
    CONSTRAINT conversation_messages_pkey PRIMARY KEY (workspace_id, id),
    CONSTRAINT conversation_messages_role_valid
        CHECK (role IN ('customer', 'bot', 'agent', 'system')),
    CONSTRAINT conversation_messages_conversation_fkey FOREIGN KEY (workspace_id, conversation_id)
        REFERENCES support.conversations (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT conversation_messages_author_member_fkey FOREIGN KEY (workspace_id, author_id)
        REFERENCES support.workspace_members (workspace_id, user_id) ON DELETE SET NULL (author_id)
);
-- Transcript order, (created_at, id), which is also the order of read
-- positions (support.conversation_reads); also serves the cascade from
-- conversations. It covers workspace_id and author_id, so that counting a
-- conversation's unread messages (support.unread_counts: after a position,
-- not written by the caller, under the workspace policy) reads the index only.
CREATE INDEX conversation_messages_transcript_idx
    ON support.conversation_messages (conversation_id, created_at, id) INCLUDE (workspace_id, author_id);
-- Full text search over search_vector (support.search_messages).
CREATE INDEX conversation_messages_search_idx
    ON support.conversation_messages USING gin (search_vector);
CREATE INDEX conversation_messages_author_idx
    ON support.conversation_messages (author_id) WHERE author_id IS NOT NULL;

-- A message's conversation determines its workspace: a workspace filter (the
-- policy's or the application's) must not be estimated as a second,
-- independent restriction (measured: the transcript plan otherwise drifts to a
-- BitmapAnd over the primary key).
CREATE STATISTICS support.conversation_messages_conversation_workspace (dependencies)
    ON conversation_id, workspace_id FROM support.conversation_messages;

COMMENT ON TABLE support.conversation_messages IS
    'Messages of a conversation. Visible and writable only by members of the conversation''s workspace (RLS).';
COMMENT ON COLUMN support.conversation_messages.workspace_id IS
    'Workspace of the parent conversation; filled from the parent when omitted on INSERT.';
COMMENT ON COLUMN support.conversation_messages.role IS 'customer | bot | agent | system';
COMMENT ON COLUMN support.conversation_messages.search_config IS
    'The text search configuration search_vector was built with: the workspace''s (workspaces.search_config) when the message was posted or the configuration last changed.';
COMMENT ON COLUMN support.conversation_messages.search_vector IS
    'Generated: the words of content under search_config, and the lexeme workspace:<workspace_id>, for support.search_messages (GIN index).';
COMMENT ON COLUMN support.conversation_messages.author_id IS
    'The member who wrote the row: for application roles always the calling user (for customer messages, the bot that relayed them). NULL once the author leaves the workspace.';

-- Read positions: how far each user has read each conversation, as the
-- (created_at, id) of the last message read, in transcript order. Written
-- only by support.mark_read(), which never moves a position back; each user
-- reads only their own rows. Not audited: a position is the reader's own
-- state, not the conversation's. Deleted with the conversation or the user;
-- a member who leaves keeps theirs (invisible to them until they return).
-- Staff read the workspaces they serve, so they keep positions too: the user
-- key is support.users, not a membership.
CREATE TABLE support.conversation_reads (
    workspace_id    uuid        NOT NULL,
    conversation_id uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    read_created_at timestamptz NOT NULL,
    read_message_id uuid        NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT conversation_reads_pkey PRIMARY KEY (workspace_id, conversation_id, user_id),
    CONSTRAINT conversation_reads_conversation_fkey FOREIGN KEY (workspace_id, conversation_id)
        REFERENCES support.conversations (workspace_id, id) ON DELETE CASCADE,
    CONSTRAINT conversation_reads_user_fkey FOREIGN KEY (user_id)
        REFERENCES support.users (id) ON DELETE CASCADE
);
-- Deleting a user never scans the table.
CREATE INDEX conversation_reads_user_idx ON support.conversation_reads (user_id);
COMMENT ON TABLE support.conversation_reads IS
    'Read positions: the last message each user has read in each conversation (support.mark_read). Each user reads only their own rows; written by support.mark_read only.';
COMMENT ON COLUMN support.conversation_reads.read_created_at IS
    'created_at of the last message read: with read_message_id, the position in transcript order (created_at, id).';
COMMENT ON COLUMN support.conversation_reads.read_message_id IS
    'id of the last message read (the position''s tie-break; the message may since have been deleted).';

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
    message_id      uuid,
    CONSTRAINT conversation_events_pkey PRIMARY KEY (workspace_id, id),
    CONSTRAINT conversation_events_kind_valid CHECK (kind IN (
        'created', 'escalated', 'claimed', 'released', 'transferred', 'resolved',
        'reopened', 'unassigned', 'changed', 'deleted', 'message_edited', 'message_deleted'))
);
CREATE INDEX conversation_events_conversation_idx
    ON support.conversation_events (conversation_id, created_at);
COMMENT ON TABLE support.conversation_events IS
    'Append-only audit of every conversation state and ownership change (written by triggers; members read their workspace''s events).';
COMMENT ON COLUMN support.conversation_events.actor_id IS
    'support.current_user_id() of the statement that caused the change (NULL: the DBA or a foreign-key action without an end user).';
COMMENT ON COLUMN support.conversation_events.kind IS
    'created | escalated | claimed | released | transferred | resolved | reopened | unassigned (owner removed or demoted) | changed (other direct edit by the table owner) | deleted | message_edited | message_deleted';
COMMENT ON COLUMN support.conversation_events.message_id IS
    'The message a message_edited or message_deleted event is about (never its content).';
COMMENT ON COLUMN support.conversation_events.created_at IS
    'clock_timestamp() of the change: per conversation, events order as the changes happened (changes to one row are serialised by its lock).';

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
    CONSTRAINT member_events_kind_valid
        CHECK (kind IN ('added', 'role_changed', 'removed', 'staff_allowed', 'staff_refused'))
);
CREATE INDEX member_events_user_idx ON support.member_events (user_id, created_at);
COMMENT ON TABLE support.member_events IS
    'Append-only audit of membership changes (added, role_changed, removed), written by a trigger; members read their workspace''s rows.';
COMMENT ON COLUMN support.member_events.actor_id IS
    'support.current_user_id() of the statement that made the change (NULL: the DBA without an end user).';

-- The platform's own support staff: they read every workspace that allows
-- staff access (or, with all_workspaces = false, the ones listed in
-- staff_workspaces) without being members, act there as viewers, and join a
-- workspace (support.join_as_staff, audited) to claim or reply with their
-- staff role. Managed by the DBA (owner-only, like jwt_keys). Rules:
-- docs/permissions.md#support-staff.
CREATE TABLE support.staff (
    user_id        uuid        NOT NULL,
    role           text        NOT NULL DEFAULT 'agent',
    all_workspaces boolean     NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT staff_pkey PRIMARY KEY (user_id),
    CONSTRAINT staff_role_valid CHECK (role IN ('admin', 'agent', 'viewer')),
    CONSTRAINT staff_user_fkey FOREIGN KEY (user_id) REFERENCES support.users (id) ON DELETE CASCADE
);
REVOKE ALL ON support.staff FROM PUBLIC;
COMMENT ON TABLE support.staff IS
    'Platform support staff: read every workspace that allows staff access (or those in staff_workspaces), without membership; join one with support.join_as_staff to act. Owner-only.';
COMMENT ON COLUMN support.staff.role IS 'admin | agent | viewer: the role they join a workspace with.';
COMMENT ON COLUMN support.staff.all_workspaces IS 'true: every workspace that allows staff; false: only those in support.staff_workspaces.';

-- The workspaces a staff user with all_workspaces = false serves.
CREATE TABLE support.staff_workspaces (
    workspace_id uuid NOT NULL,
    user_id      uuid NOT NULL,
    CONSTRAINT staff_workspaces_pkey PRIMARY KEY (workspace_id, user_id),
    CONSTRAINT staff_workspaces_workspace_fkey FOREIGN KEY (workspace_id)
        REFERENCES support.workspaces (id) ON DELETE CASCADE,
    CONSTRAINT staff_workspaces_staff_fkey FOREIGN KEY (user_id)
        REFERENCES support.staff (user_id) ON DELETE CASCADE
);
CREATE INDEX staff_workspaces_user_idx ON support.staff_workspaces (user_id, workspace_id);
REVOKE ALL ON support.staff_workspaces FROM PUBLIC;
COMMENT ON TABLE support.staff_workspaces IS
    'The configured set of workspaces of a staff user whose all_workspaces is false. Owner-only.';

-- The version of each user's set of memberships: written, in the same
-- transaction, by every change to that user's rows of workspace_members
-- (trigger workspace_members_version), with a value of
-- membership_version_seq (sequence values never repeat, even after a
-- rollback). The membership cache behind the policies re-reads a user's
-- version before it trusts a cached set (docs/security.md). Derived state:
-- not dumped (after a restore every version reads as "none", and the
-- restore's own inserts write new ones); owner-only, like jwt_keys.
CREATE SEQUENCE support.membership_version_seq;
CREATE TABLE support.membership_versions (
    user_id uuid   NOT NULL,
    version bigint NOT NULL,
    CONSTRAINT membership_versions_pkey PRIMARY KEY (user_id)
);
REVOKE ALL ON support.membership_versions FROM PUBLIC;
REVOKE ALL ON SEQUENCE support.membership_version_seq FROM PUBLIC;
COMMENT ON TABLE support.membership_versions IS
    'Version of each user''s memberships, for the membership cache of the row-level security policies. Written by trigger only. Owner-only.';

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

-- The server-side secret that each workspace's notification channel is
-- derived from (HMAC-SHA256 of the workspace id: src/notifications.rs,
-- docs/security.md#notifications). One row, 32 random bytes written at
-- install (sql/58_notifications.sql) and by support.rotate_notification_secret().
-- Owner-only, like jwt_keys. Not dumped: a restored database makes its own,
-- so its channels are new ones (applications fetch theirs when they connect).
CREATE TABLE support.notification_secret (
    singleton  boolean     NOT NULL DEFAULT true,
    secret     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT notification_secret_pkey PRIMARY KEY (singleton),
    CONSTRAINT notification_secret_one_row CHECK (singleton),
    CONSTRAINT notification_secret_length CHECK (pg_catalog.octet_length(secret) OPERATOR(pg_catalog.>=) 32)
);
REVOKE ALL ON support.notification_secret FROM PUBLIC;
COMMENT ON TABLE support.notification_secret IS
    'The secret the notification channels are derived from (support.notification_channel). One row. Owner-only.';

-- pg_dump keeps the rows of extension tables only when they are registered.
SELECT pg_catalog.pg_extension_config_dump('support.users', '');
SELECT pg_catalog.pg_extension_config_dump('support.workspaces', '');
SELECT pg_catalog.pg_extension_config_dump('support.workspace_members', '');
SELECT pg_catalog.pg_extension_config_dump('support.staff', '');
SELECT pg_catalog.pg_extension_config_dump('support.staff_workspaces', '');
SELECT pg_catalog.pg_extension_config_dump('support.conversations', '');
SELECT pg_catalog.pg_extension_config_dump('support.conversation_counters', '');
SELECT pg_catalog.pg_extension_config_dump('support.conversation_messages', '');
SELECT pg_catalog.pg_extension_config_dump('support.conversation_reads', '');
SELECT pg_catalog.pg_extension_config_dump('support.conversation_events', '');
SELECT pg_catalog.pg_extension_config_dump('support.jwt_keys', '');
SELECT pg_catalog.pg_extension_config_dump('support.member_events', '');
