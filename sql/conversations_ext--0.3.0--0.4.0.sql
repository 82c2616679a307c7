-- conversations_ext 0.3.0 -> 0.4.0 (hand-written; checked by pg_test/tests/upgrade.rs,
-- which compares everything the extension owns after this script with a fresh
-- 0.4.0 install, by name, and an application role's privileges with those a
-- fresh grant_usage gives).
--
-- 0.4.0: row-level security whose cost does not grow with the number of
-- workspaces a user belongs to: every policy is support.workspace_member(
-- workspace_id) (no sub-select, which Citus refuses), a per-row probe of the
-- membership set, cached per backend and re-validated against a per-user
-- version that every membership change writes, with an index condition its
-- planner support derives. Support staff who serve workspaces without
-- membership. support.inbox().

-- Support staff: the workspace's consent, the staff-joined mark, two audit kinds.
ALTER TABLE support.workspaces ADD COLUMN staff_access boolean NOT NULL DEFAULT true;
ALTER TABLE support.workspace_members ADD COLUMN joined_as_staff boolean NOT NULL DEFAULT false;
ALTER TABLE support.member_events DROP CONSTRAINT member_events_kind_valid;
ALTER TABLE support.member_events ADD CONSTRAINT member_events_kind_valid
    CHECK (kind IN ('added', 'role_changed', 'removed', 'staff_allowed', 'staff_refused'));

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

SELECT pg_catalog.pg_extension_config_dump('support.staff', '');
SELECT pg_catalog.pg_extension_config_dump('support.staff_workspaces', '');
ALTER TABLE support.membership_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.staff               ENABLE ROW LEVEL SECURITY;
ALTER TABLE support.staff_workspaces    ENABLE ROW LEVEL SECURITY;

-- New Rust functions (definitions as pgrx generates them).
CREATE  FUNCTION "workspace_member_support"(
	"request" internal /* Internal */
) RETURNS internal /* Internal */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'workspace_member_support_wrapper';

CREATE  FUNCTION "shares_workspace"(
	"user_id" uuid /* pgrx :: Uuid */
) RETURNS bool /* bool */
STRICT STABLE SECURITY DEFINER PARALLEL RESTRICTED 
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'shares_workspace_wrapper';

CREATE  FUNCTION "bypasses_row_security"() RETURNS bool /* bool */
STRICT STABLE PARALLEL RESTRICTED 
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'bypasses_row_security_wrapper';
COMMENT ON FUNCTION support.bypasses_row_security() IS
    'Internal (numbering trigger): true when the outer role bypasses row-level security on the support tables (superuser, BYPASSRLS, a member of their owner): the DBA''s own writes, not an application role''s.';

-- workspace_member: no SET clause any more (it pins search_path itself where it
-- runs SQL), and its planner support (the derived index condition).
ALTER FUNCTION support.workspace_member(uuid) RESET search_path;
-- check_new_message: no SET clause any more either (once per posted message; it
-- reads the caller's role from the membership cache, which pins search_path
-- for its own SQL).
ALTER FUNCTION support.check_new_message(uuid, uuid, text) RESET search_path;
ALTER FUNCTION support.workspace_member(uuid) SUPPORT support.workspace_member_support;

-- The membership versions (src/membership/cache.rs, docs/security.md): a new
-- value of membership_version_seq for each user given, in the same
-- transaction as the change that calls it. The nil user's row is the epoch.
CREATE FUNCTION support.write_membership_versions(user_ids uuid[]) RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO support.membership_versions AS v (user_id, version)
    SELECT DISTINCT ON (u.id) u.id, pg_catalog.nextval('support.membership_version_seq'::pg_catalog.regclass)
      FROM pg_catalog.unnest(user_ids) AS u(id)
     WHERE u.id IS NOT NULL
    ON CONFLICT (user_id) DO UPDATE SET version = EXCLUDED.version
$$;
COMMENT ON FUNCTION support.write_membership_versions(uuid[]) IS
    'Internal (the *_version triggers): writes a new support.membership_versions row for each user given; the nil user is the epoch.';

-- workspace_members, AFTER each change: a new version for every user whose
-- set of memberships or role changed (both users when a row moves), in the
-- same transaction; TRUNCATE (of it, or of support.staff) a new epoch, which
-- every user's cached set depends on (TRUNCATE ... CASCADE may have emptied
-- support.users already). Runs in restore mode too: it writes no audit, only
-- the version.
CREATE FUNCTION support.workspace_members_version() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM support.write_membership_versions(ARRAY['00000000-0000-0000-0000-000000000000'::uuid]);
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM support.write_membership_versions(ARRAY[NEW.user_id]);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM support.write_membership_versions(ARRAY[OLD.user_id]);
    ELSIF (NEW.user_id, NEW.workspace_id, NEW.role) IS DISTINCT FROM (OLD.user_id, OLD.workspace_id, OLD.role) THEN
        PERFORM support.write_membership_versions(ARRAY[OLD.user_id, NEW.user_id]);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.workspace_members_version() IS
    'Trigger: writes a new support.membership_versions row for every user whose memberships change (the membership cache of the policies re-validates against it).';

CREATE TRIGGER workspace_members_version
    AFTER INSERT OR UPDATE OR DELETE ON support.workspace_members
    FOR EACH ROW EXECUTE FUNCTION support.workspace_members_version();
CREATE TRIGGER workspace_members_version_truncate
    AFTER TRUNCATE ON support.workspace_members
    FOR EACH STATEMENT EXECUTE FUNCTION support.workspace_members_version();

-- users, AFTER UPDATE OF kind: a new membership version for that user (the
-- cached effective role of a bot differs from a human's).
CREATE FUNCTION support.users_version() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (NEW.id, NEW.kind) IS DISTINCT FROM (OLD.id, OLD.kind) THEN
        PERFORM support.write_membership_versions(ARRAY[OLD.id, NEW.id]);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.users_version() IS
    'Trigger: writes a new support.membership_versions row for a user whose kind changes (the membership cache holds effective roles).';

CREATE TRIGGER users_version
    AFTER UPDATE OF kind, id ON support.users
    FOR EACH ROW EXECUTE FUNCTION support.users_version();

-- staff and staff_workspaces, AFTER each change: a new membership version for
-- the staff user concerned; workspaces, AFTER each statement that creates or
-- deletes workspaces or changes staff_access: a new version for every staff
-- user (their set of served workspaces may have changed). Same reason as
-- workspace_members_version.
CREATE FUNCTION support.staff_version() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_LEVEL OPERATOR(pg_catalog.=) 'STATEMENT' THEN
        PERFORM support.write_membership_versions(ARRAY(SELECT s.user_id FROM support.staff AS s));
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM support.write_membership_versions(ARRAY[NEW.user_id]);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM support.write_membership_versions(ARRAY[OLD.user_id]);
    ELSE
        PERFORM support.write_membership_versions(ARRAY[OLD.user_id, NEW.user_id]);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.staff_version() IS
    'Trigger: writes new support.membership_versions rows when support staff, their configured workspaces, or the workspaces that allow staff change.';

CREATE TRIGGER staff_version
    AFTER INSERT OR UPDATE OR DELETE ON support.staff
    FOR EACH ROW EXECUTE FUNCTION support.staff_version();
CREATE TRIGGER staff_version_truncate
    AFTER TRUNCATE ON support.staff
    FOR EACH STATEMENT EXECUTE FUNCTION support.workspace_members_version();
CREATE TRIGGER staff_workspaces_version
    AFTER INSERT OR UPDATE OR DELETE ON support.staff_workspaces
    FOR EACH ROW EXECUTE FUNCTION support.staff_version();
CREATE TRIGGER staff_workspaces_version_truncate
    AFTER TRUNCATE ON support.staff_workspaces
    FOR EACH STATEMENT EXECUTE FUNCTION support.staff_version();
CREATE TRIGGER workspaces_staff_version
    AFTER INSERT OR DELETE OR UPDATE OF staff_access ON support.workspaces
    FOR EACH STATEMENT EXECUTE FUNCTION support.staff_version();
CREATE TRIGGER workspaces_staff_version_truncate
    AFTER TRUNCATE ON support.workspaces
    FOR EACH STATEMENT EXECUTE FUNCTION support.staff_version();

-- Support staff (docs/permissions.md#support-staff). A staff user reads every
-- workspace they serve without membership and acts there as a viewer; to
-- claim or reply they join it, with their staff role. The membership is
-- audited like any other (member_events 'added', actor = the staff user)
-- and marked joined_as_staff.
CREATE FUNCTION support.join_as_staff(workspace_id uuid)
RETURNS support.workspace_members
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := support.require_user_id();   -- 28000 without an end user
    staff_role text;
    joined support.workspace_members;
BEGIN
    -- A concurrent refusal (set_staff_access) waits for this join, or this
    -- join for it: the workspace row is the lock both take.
    PERFORM 1 FROM support.workspaces AS w
     WHERE w.id OPERATOR(pg_catalog.=) join_as_staff.workspace_id
       FOR SHARE;
    SELECT s.role INTO staff_role
      FROM support.staff AS s
      JOIN support.workspaces AS w
        ON w.id OPERATOR(pg_catalog.=) join_as_staff.workspace_id AND w.staff_access
     WHERE s.user_id OPERATOR(pg_catalog.=) me
       AND (s.all_workspaces
            OR EXISTS (SELECT 1 FROM support.staff_workspaces AS sw
                        WHERE sw.workspace_id OPERATOR(pg_catalog.=) join_as_staff.workspace_id
                          AND sw.user_id OPERATOR(pg_catalog.=) me));
    IF staff_role IS NULL THEN
        -- Not staff, or not serving this workspace: the same answer as for a
        -- workspace that does not exist.
        RAISE EXCEPTION 'workspace % not found', join_as_staff.workspace_id
            USING ERRCODE = 'P0002';
    END IF;
    INSERT INTO support.workspace_members AS m (workspace_id, user_id, role, joined_as_staff)
    VALUES (join_as_staff.workspace_id, me, staff_role, true)
    ON CONFLICT ON CONSTRAINT workspace_members_pkey DO NOTHING
    RETURNING m.* INTO joined;
    IF joined.user_id IS NULL THEN
        -- Already a member: the membership stays as it is.
        SELECT m.* INTO joined FROM support.workspace_members AS m
         WHERE m.workspace_id OPERATOR(pg_catalog.=) join_as_staff.workspace_id
           AND m.user_id OPERATOR(pg_catalog.=) me;
    END IF;
    RETURN joined;
END
$$;

-- The workspace's owner allows or refuses support staff. Refusing removes
-- the members who joined as staff (their claims return to the queue) and ends
-- staff reads of the workspace at the next statement. Audited in
-- member_events ('staff_allowed' / 'staff_refused', user and actor the owner).
CREATE FUNCTION support.set_staff_access(workspace_id uuid, allowed boolean)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := support.require_user_id();   -- 28000 without an end user
    was boolean;
    caller_role text;
BEGIN
    IF allowed IS NULL THEN
        RAISE EXCEPTION 'allowed must be true or false, not NULL' USING ERRCODE = '22004';
    END IF;
    SELECT w.staff_access INTO was FROM support.workspaces AS w
     WHERE w.id OPERATOR(pg_catalog.=) set_staff_access.workspace_id
       FOR NO KEY UPDATE;
    caller_role := support.workspace_role(set_staff_access.workspace_id);
    IF was IS NULL OR caller_role IS NULL THEN
        RAISE EXCEPTION 'workspace % not found', set_staff_access.workspace_id
            USING ERRCODE = 'P0002';
    END IF;
    IF caller_role OPERATOR(pg_catalog.<>) 'owner' THEN
        RAISE EXCEPTION 'workspace role % cannot change staff access', caller_role
            USING ERRCODE = '42501',
                  HINT = 'Only an owner of the workspace allows or refuses support staff.';
    END IF;
    IF was IS DISTINCT FROM allowed THEN
        UPDATE support.workspaces AS w SET staff_access = allowed
         WHERE w.id OPERATOR(pg_catalog.=) set_staff_access.workspace_id;
        INSERT INTO support.member_events (workspace_id, user_id, actor_id, kind)
        VALUES (set_staff_access.workspace_id, me, me,
                CASE WHEN allowed THEN 'staff_allowed' ELSE 'staff_refused' END);
        IF NOT allowed THEN
            DELETE FROM support.workspace_members AS m
             WHERE m.workspace_id OPERATOR(pg_catalog.=) set_staff_access.workspace_id
               AND m.joined_as_staff
               AND m.role OPERATOR(pg_catalog.<>) 'owner';
        END IF;
    END IF;
    RETURN allowed;
END
$$;

-- Policies: one call, no sub-select.
ALTER POLICY users_select_member ON support.users
    USING (support.shares_workspace(id));
ALTER POLICY workspaces_select_member ON support.workspaces
    USING (support.workspace_member(id));
ALTER POLICY workspace_members_select_member ON support.workspace_members
    USING (support.workspace_member(workspace_id));
ALTER POLICY conversations_select_member ON support.conversations
    USING (support.workspace_member(workspace_id));
ALTER POLICY conversations_insert_member ON support.conversations
    WITH CHECK (support.workspace_member(workspace_id));
ALTER POLICY conversations_update_member ON support.conversations
    USING (support.workspace_member(workspace_id)) WITH CHECK (support.workspace_member(workspace_id));
ALTER POLICY conversations_delete_member ON support.conversations
    USING (support.workspace_member(workspace_id));
ALTER POLICY conversation_messages_select_member ON support.conversation_messages
    USING (support.workspace_member(workspace_id));
ALTER POLICY conversation_messages_insert_member ON support.conversation_messages
    WITH CHECK (support.workspace_member(workspace_id));
ALTER POLICY conversation_messages_update_member ON support.conversation_messages
    USING (support.workspace_member(workspace_id)) WITH CHECK (support.workspace_member(workspace_id));
ALTER POLICY conversation_messages_delete_member ON support.conversation_messages
    USING (support.workspace_member(workspace_id));
ALTER POLICY conversation_events_select_member ON support.conversation_events
    USING (support.workspace_member(workspace_id));
ALTER POLICY member_events_select_member ON support.member_events
    USING (support.workspace_member(workspace_id));

-- conversations_ext: the inbox, newest conversations across all the caller's
-- workspaces, at a cost that stays small for a member of thousands.
--
-- The per-workspace LATERAL query (newest max_rows of each workspace, then the
-- newest max_rows of those) reads up to max_rows rows per workspace: 300,000
-- rows for a member of 10,000 workspaces. For a member of more than max_rows
-- workspaces, this function first reads the newest conversation of each
-- (one index-only descent each) and keeps the max_rows workspaces whose newest
-- is newest; then it reads at most max_rows keys of each (index-only), and
-- fetches the rows of the newest max_rows keys only. That is exact: if a conversation is among the
-- newest max_rows overall, every workspace whose newest conversation is newer
-- than its own workspace's holds a newer conversation, so there are fewer than
-- max_rows such workspaces. Ties are broken by id, the same total order
-- (created_at DESC, id) throughout.
--
-- SECURITY INVOKER: row-level security applies to every row it reads, exactly
-- as to the caller's own query.
CREATE FUNCTION support.inbox(max_rows integer DEFAULT 50) RETURNS SETOF support.conversations
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mine uuid[];
BEGIN
    IF max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 OR max_rows OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', max_rows
            USING ERRCODE = '22023';
    END IF;
    mine := support.member_workspaces();
    IF support.distributed() THEN
        -- Citus (docs/scale-out.md): one query, which Citus runs on every
        -- shard holding one of these workspaces (each returns its newest
        -- max_rows from the index) and merges; the per-workspace LATERAL
        -- steps below are not distributable.
        RETURN QUERY
        SELECT c.*
          FROM support.conversations AS c
         WHERE c.workspace_id OPERATOR(pg_catalog.=) ANY (mine)
         ORDER BY c.created_at DESC, c.id
         LIMIT max_rows;
        RETURN;
    END IF;
    IF pg_catalog.cardinality(mine) OPERATOR(pg_catalog.<=) 1 THEN
        -- One workspace (or none): its newest rows, straight from the index
        -- (the two steps below would read the same keys twice).
        RETURN QUERY
        SELECT c.*
          FROM support.conversations AS c
         WHERE c.workspace_id OPERATOR(pg_catalog.=) mine[1]
         ORDER BY c.created_at DESC, c.id
         LIMIT max_rows;
        RETURN;
    END IF;
    IF pg_catalog.cardinality(mine) OPERATOR(pg_catalog.>) max_rows THEN
        -- Only the max_rows workspaces whose newest conversation is newest
        -- can hold the answer (one index-only descent per workspace).
        SELECT pg_catalog.array_agg(w.id) INTO mine
          FROM (SELECT w.id
                  FROM pg_catalog.unnest(mine) AS w(id)
                  CROSS JOIN LATERAL (
                        SELECT h.created_at, h.id
                          FROM support.conversations AS h
                         WHERE h.workspace_id OPERATOR(pg_catalog.=) w.id
                         ORDER BY h.created_at DESC, h.id
                         LIMIT 1) AS newest
                 ORDER BY newest.created_at DESC, newest.id
                 LIMIT max_rows) AS w;
    END IF;
    -- The newest max_rows keys of those workspaces (index-only), then their rows.
    RETURN QUERY
    SELECT c.*
      FROM (SELECT k.workspace_id, k.id, k.created_at
              FROM pg_catalog.unnest(mine) AS w(id)
              CROSS JOIN LATERAL (
                    SELECT x.workspace_id, x.id, x.created_at
                      FROM support.conversations AS x
                     WHERE x.workspace_id OPERATOR(pg_catalog.=) w.id
                     ORDER BY x.created_at DESC, x.id
                     LIMIT max_rows) AS k
             ORDER BY k.created_at DESC, k.id
             LIMIT max_rows) AS top
      JOIN support.conversations AS c
        ON c.workspace_id OPERATOR(pg_catalog.=) top.workspace_id AND c.id OPERATOR(pg_catalog.=) top.id
     ORDER BY top.created_at DESC, top.id;
END
$$;

-- Privileges: grant_usage covers the new functions.
CREATE OR REPLACE FUNCTION support.grant_usage(app_role pg_catalog.regrole) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text := app_role::text;   -- regrole output is already a quoted identifier
    functions text;
    insertable pg_catalog.regclass;
    defaulted text;
    propagation text;
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

    -- Conversations: ids, numbers, lifecycle columns and timestamps are the
    -- database's. The lifecycle columns and number are granted for INSERT only
    -- so that an ORM may send them as NULL; the insert triggers refuse any
    -- other value, naming the column.
    EXECUTE format('GRANT SELECT, DELETE ON support.conversations TO %s', r);
    EXECUTE format('GRANT INSERT (workspace_id, bot_user_id, channel, status, subject, '
                   'claimed_by, claimed_at, escalated_at, resolved_at, first_agent_reply_at, number) '
                   'ON support.conversations TO %s', r);
    -- workspace_id is granted so that a move attempt meets the trigger's clear
    -- 0A000 error rather than a bare permission error; it never changes.
    EXECUTE format('GRANT UPDATE (workspace_id, bot_user_id, channel, subject) ON support.conversations TO %s', r);

    -- Messages: append, edit the text, delete; ids and timestamps are the database's.
    EXECUTE format('GRANT SELECT, DELETE ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT INSERT (workspace_id, conversation_id, role, author_id, content) ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT UPDATE (content) ON support.conversation_messages TO %s', r);

    -- Read positions: read-only (support.mark_read moves the caller's own).
    EXECUTE format('GRANT SELECT ON support.conversation_reads TO %s', r);

    -- The audit trails: read-only.
    EXECUTE format('GRANT SELECT ON support.conversation_events, support.member_events TO %s', r);

    -- The public functions (policies call the identity and membership helpers
    -- as the querying role, so those are needed too).
    functions := format('GRANT EXECUTE ON FUNCTION support.current_user_id(), support.member_workspaces(), '
                   'support.workspace_member(uuid), support.shares_workspace(uuid), support.workspace_role(uuid), '
                   'support.check_new_message(uuid, uuid, text), '
                   'support.escalate_conversation(uuid, text), support.claim_conversation(uuid), '
                   'support.claim_next_conversation(uuid), support.release_conversation(uuid), '
                   'support.transfer_conversation(uuid, uuid), support.resolve_conversation(uuid), '
                   'support.reopen_conversation(uuid), support.authenticate(text), '
                   'support.add_member(uuid, uuid, text), support.set_member_role(uuid, uuid, text), '
                   'support.remove_member(uuid, uuid), support.inbox(integer), '
                   'support.mark_read(uuid, uuid), support.unread_counts(), support.require_user_id(), '
                   'support.queue_figures(), support.agent_figures(), support.notification_channel(uuid), '
                   'support.listen(uuid), support.unlisten(uuid), '
                   'support.search_messages(text, integer), support.set_search_config(uuid, regconfig), '
                   'support.search_vector(text, uuid, text), '
                   'support.sla_figures(timestamp with time zone, timestamp with time zone), '
                   'support.join_as_staff(uuid), support.set_staff_access(uuid, boolean), support.propagate_identity(), '
                   'support.distributed() TO %s', r);
    EXECUTE functions;

    -- On Citus (support.distribute()), GRANT and REVOKE on the tables reach
    -- every node's copy; on the functions they do not, and the policies and
    -- triggers call these functions on the workers, as this role.
    --
    -- And the coordinator sends an INSERT to a shard with every column that has
    -- a default spelled out (id, created_at, ...), so the shards must accept
    -- those columns from the role too. What the role may name in its own
    -- INSERT is still checked on the coordinator: there the extra columns are
    -- revoked again, on the coordinator's table only (docs/scale-out.md).
    IF support.distributed() THEN
        PERFORM support.on_workers(format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA support FROM %s', r));
        PERFORM support.on_workers(functions);
        FOR insertable IN
            SELECT t.t FROM pg_catalog.unnest(ARRAY['support.conversations', 'support.conversation_messages']::pg_catalog.regclass[]) AS t(t)
        LOOP
            SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO defaulted
              FROM pg_catalog.pg_attribute AS a
             WHERE a.attrelid OPERATOR(pg_catalog.=) insertable AND a.atthasdef
               AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
               AND NOT pg_catalog.has_column_privilege(app_role, insertable, a.attname, 'INSERT');
            CONTINUE WHEN defaulted IS NULL;
            EXECUTE format('GRANT INSERT (%s) ON %s TO %s', defaulted, insertable, r);
            propagation := pg_catalog.current_setting('citus.enable_ddl_propagation');
            PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
            EXECUTE format('REVOKE INSERT (%s) ON %s FROM %s', defaulted, insertable, r);
            PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', propagation, true);
        END LOOP;
    END IF;
END
$$;

-- Catalog documentation of the new internal functions.
COMMENT ON FUNCTION support.workspace_member_support(internal) IS
    'Internal (planner support of support.workspace_member): offers the index condition workspace_id = ANY (support.member_workspaces()) where the query does not already pin workspace_id, and that condition''s selectivity.';
COMMENT ON FUNCTION support.shares_workspace(uuid) IS
    'Internal (policy of support.users, runs as the application role): is the user the caller, or a member of one of the caller''s workspaces?';

-- Catalog comments of the public functions (the text of docs/api.md).
-- Lifecycle functions on Citus: their UPDATE carries the audit record (kind,
-- reason, acting user) to the node holding the row; the audit trigger takes it.
CREATE  FUNCTION "lifecycle_mark"(
	"conversation_id" uuid, /* pgrx :: Uuid */
	"kind" TEXT, /* & str */
	"reason" TEXT, /* Option < String > */
	"actor" uuid /* pgrx :: Uuid */
) RETURNS bool /* bool */
IMMUTABLE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'lifecycle_mark_wrapper';
CREATE  FUNCTION "propagate_identity"() RETURNS uuid /* Option < pgrx :: Uuid > */
STRICT VOLATILE PARALLEL UNSAFE 
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'propagate_identity_wrapper';
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
    VALUES (NEW.workspace_id, NEW.id, COALESCE(pending[3]::uuid, support.current_user_id()), event_kind,
            OLD.status, NEW.status, OLD.claimed_by, NEW.claimed_by, pending[2]);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.lifecycle_pending(uuid) IS
    'Internal (audit trigger): kind, reason and (on Citus) acting user of the lifecycle function changing that conversation right now; taken once. Not granted to application roles.';
COMMENT ON FUNCTION support.lifecycle_mark(uuid, text, text, uuid) IS
    'Internal (lifecycle functions on Citus): a RETURNING column of their UPDATE that records, on the node holding the row, what support.lifecycle_pending() then tells the audit trigger. Not granted to application roles.';

-- Citus (docs/scale-out.md): a membership change's audit event and unassigned
-- claims happen once, on the node holding the workspace's rows.
CREATE OR REPLACE FUNCTION support.workspace_members_audit() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- On Citus this fires on every node's copy of the table: the effects
    -- below happen once, where the workspace's rows are (sql/60_citus.sql).
    IF NOT support.acts_here(CASE WHEN TG_OP = 'DELETE' THEN OLD.workspace_id ELSE NEW.workspace_id END) THEN
        RETURN NULL;
    END IF;
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

-- conversations_ext on a Citus cluster (docs/scale-out.md).
--
-- The same install script runs on every node: Citus propagates CREATE
-- EXTENSION from the coordinator to the workers, so each node has its own
-- support.* tables. support.distribute(), run once on the coordinator, turns
-- them into the layout below; the workers' own copies become the "shell"
-- tables through which Citus routes queries there. On a server without Citus
-- nothing in this file changes anything: support.distributed() is false,
-- support.acts_here() true, and the trigger below does nothing.
--
-- The layout. Reference tables (a full copy on every node): small, read by
-- every policy and every write check. Distributed by workspace_id, colocated
-- with support.conversations (every row of a workspace on one shard group):
-- the conversations and everything that grows with them. Node-local (never
-- distributed): support.membership_versions, each node's record of its own
-- copy of the memberships (what that node's membership cache re-validates
-- against; the *_version triggers of the reference tables write it on every
-- node), and support.jwt_keys, read by support.authenticate() where the
-- application calls it (the coordinator).
CREATE FUNCTION support.citus_layout()
RETURNS TABLE (relation pg_catalog.regclass, citus_table_type text)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('support.users'::pg_catalog.regclass, 'reference'),
           ('support.workspaces', 'reference'),
           ('support.workspace_members', 'reference'),
           ('support.staff', 'reference'),
           ('support.staff_workspaces', 'reference'),
           ('support.conversations', 'distributed'),
           ('support.conversation_counters', 'distributed'),
           ('support.conversation_messages', 'distributed'),
           ('support.conversation_reads', 'distributed'),
           ('support.conversation_events', 'distributed'),
           ('support.member_events', 'distributed')
$$;
COMMENT ON FUNCTION support.citus_layout() IS
    'The Citus layout support.distribute() builds: reference tables and tables distributed by workspace_id (colocated with support.conversations). Tables not listed stay local to each node.';

-- Whether this database's support.conversations is distributed by Citus.
CREATE FUNCTION support.distributed() RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found boolean;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition AS p
                              WHERE p.logicalrelid OPERATOR(pg_catalog.=) ''support.conversations''::pg_catalog.regclass)'
       INTO found;
    RETURN found;
END
$$;
COMMENT ON FUNCTION support.distributed() IS
    'Internal: true when support.conversations is a Citus distributed table (support.distribute() ran).';

-- A change to a reference table (workspace_members) is applied to its copy on
-- every node, and its row triggers fire on every node. What the change does to
-- the workspace's distributed rows (its audit event in member_events, the
-- claims it unassigns) must happen once: on the node that holds the
-- workspace's shard group. Elsewhere the distributed write would cross nodes
-- from inside a shard, which Citus refuses, and would be duplicated if it did
-- not. Without Citus: always true.
CREATE FUNCTION support.acts_here(workspace_id uuid) RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    here boolean;
BEGIN
    IF NOT support.distributed() THEN
        RETURN true;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_placement AS p
                              WHERE p.shardid OPERATOR(pg_catalog.=) pg_catalog.get_shard_id_for_distribution_column(
                                        ''support.member_events''::pg_catalog.regclass, $1)
                                AND p.groupid OPERATOR(pg_catalog.=) (SELECT g.groupid FROM pg_catalog.pg_dist_local_group AS g))'
       INTO here USING workspace_id;
    RETURN here;
END
$$;
COMMENT ON FUNCTION support.acts_here(uuid) IS
    'Internal (workspace_members triggers): true where a membership change of that workspace has its effect on distributed tables: always without Citus; on Citus, only on the node holding the workspace''s shard group.';

-- workspace_members, BEFORE DELETE, on Citus only. Without Citus the foreign
-- keys from conversations (bot_user_id, claimed_by) and conversation_messages
-- (author_id) to workspace_members clear those columns themselves (ON DELETE
-- SET NULL). Citus refuses SET NULL actions on a foreign key that includes the
-- distribution column, so support.distribute() re-creates those three as
-- plain (NO ACTION) keys and this trigger clears the columns instead, on the
-- node holding the workspace's rows, before the key is checked. The effect is
-- the same: a removed owner's claims go back to the queue ('unassigned'
-- events, support.conversations_before_update), authorship is kept as NULL.
CREATE FUNCTION support.workspace_members_before_delete() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF support.distributed() AND support.acts_here(OLD.workspace_id) THEN
        UPDATE support.conversations AS c SET claimed_by = NULL
         WHERE c.workspace_id OPERATOR(pg_catalog.=) OLD.workspace_id
           AND c.claimed_by OPERATOR(pg_catalog.=) OLD.user_id;
        UPDATE support.conversations AS c SET bot_user_id = NULL
         WHERE c.workspace_id OPERATOR(pg_catalog.=) OLD.workspace_id
           AND c.bot_user_id OPERATOR(pg_catalog.=) OLD.user_id;
        UPDATE support.conversation_messages AS m SET author_id = NULL
         WHERE m.workspace_id OPERATOR(pg_catalog.=) OLD.workspace_id
           AND m.author_id OPERATOR(pg_catalog.=) OLD.user_id;
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION support.workspace_members_before_delete() IS
    'Trigger (Citus only): clears bot_user_id, claimed_by and author_id that refer to a membership being removed, as the single-node ON DELETE SET NULL foreign keys do.';

CREATE TRIGGER workspace_members_before_delete
    BEFORE DELETE ON support.workspace_members
    FOR EACH ROW EXECUTE FUNCTION support.workspace_members_before_delete();

-- Runs a command on every Citus worker (each in its own transaction, as
-- run_command_on_workers does); raises the first worker's error (58000).
CREATE FUNCTION support.on_workers(command text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    failed record;
BEGIN
    FOR failed IN
        EXECUTE 'SELECT w.nodename, w.nodeport, w.result FROM pg_catalog.run_command_on_workers($1) AS w
                  WHERE NOT w.success'
        USING command
    LOOP
        RAISE EXCEPTION 'on worker %:%: %', failed.nodename, failed.nodeport, failed.result
            USING ERRCODE = '58000', DETAIL = command;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION support.on_workers(text) FROM PUBLIC;
COMMENT ON FUNCTION support.on_workers(text) IS
    'Internal (support.distribute, support.grant_usage): runs a command on every Citus worker; raises the first failure.';

-- The extension's foreign keys as support.distribute() re-creates them on
-- distributed tables (sql/00_schema.sql has them for one server): the same
-- names and columns; the three ON DELETE SET NULL (column) keys become plain
-- keys, which Citus accepts, and support.workspace_members_before_delete
-- clears those columns instead.
CREATE FUNCTION support.citus_foreign_keys()
RETURNS TABLE (rel pg_catalog.regclass, name text, definition text)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('support.workspace_members'::pg_catalog.regclass, 'workspace_members_workspace_fkey',
            'FOREIGN KEY (workspace_id) REFERENCES support.workspaces (id) ON DELETE CASCADE'),
           ('support.workspace_members', 'workspace_members_user_fkey',
            'FOREIGN KEY (user_id) REFERENCES support.users (id) ON DELETE CASCADE'),
           ('support.staff', 'staff_user_fkey',
            'FOREIGN KEY (user_id) REFERENCES support.users (id) ON DELETE CASCADE'),
           ('support.staff_workspaces', 'staff_workspaces_workspace_fkey',
            'FOREIGN KEY (workspace_id) REFERENCES support.workspaces (id) ON DELETE CASCADE'),
           ('support.staff_workspaces', 'staff_workspaces_staff_fkey',
            'FOREIGN KEY (user_id) REFERENCES support.staff (user_id) ON DELETE CASCADE'),
           ('support.conversations', 'conversations_workspace_fkey',
            'FOREIGN KEY (workspace_id) REFERENCES support.workspaces (id)'),
           ('support.conversations', 'conversations_bot_member_fkey',
            'FOREIGN KEY (workspace_id, bot_user_id) REFERENCES support.workspace_members (workspace_id, user_id)'),
           ('support.conversations', 'conversations_owner_member_fkey',
            'FOREIGN KEY (workspace_id, claimed_by) REFERENCES support.workspace_members (workspace_id, user_id)'),
           ('support.conversation_counters', 'conversation_counters_workspace_fkey',
            'FOREIGN KEY (workspace_id) REFERENCES support.workspaces (id) ON DELETE CASCADE'),
           ('support.conversation_messages', 'conversation_messages_conversation_fkey',
            'FOREIGN KEY (workspace_id, conversation_id) REFERENCES support.conversations (workspace_id, id) ON DELETE CASCADE'),
           ('support.conversation_reads', 'conversation_reads_conversation_fkey',
            'FOREIGN KEY (workspace_id, conversation_id) REFERENCES support.conversations (workspace_id, id) ON DELETE CASCADE'),
           ('support.conversation_reads', 'conversation_reads_user_fkey',
            'FOREIGN KEY (user_id) REFERENCES support.users (id) ON DELETE CASCADE'),
           ('support.conversation_messages', 'conversation_messages_author_member_fkey',
            'FOREIGN KEY (workspace_id, author_id) REFERENCES support.workspace_members (workspace_id, user_id)')
$$;
COMMENT ON FUNCTION support.citus_foreign_keys() IS
    'Internal (support.distribute): the extension''s foreign keys as they are re-created on distributed tables.';

-- support.distribute(shard_count): on a Citus coordinator, distributes the
-- installed extension's tables into support.citus_layout(). Idempotent: a
-- second call changes nothing and returns the same layout. Refuses on a server
-- without Citus (0A000) and on a Citus worker (55000). Superuser only (it
-- alters the extension's tables and every node's copy of them).
--
-- Why the foreign keys are dropped and re-created: with any foreign key among
-- them, Citus first turns the connected tables into "Citus local tables" and
-- then cannot turn those into reference or distributed tables (the workers'
-- copies, which belong to the extension, are in the way). So the extension's
-- keys (support.citus_foreign_keys(); a DBA's own are left alone) are dropped
-- on every node, the tables are distributed, and the keys are added back
-- through Citus, which puts them on every shard.
CREATE FUNCTION support.distribute(shard_count integer DEFAULT 32)
RETURNS TABLE (relation pg_catalog.regclass, citus_table_type text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET citus.enable_unsafe_triggers = on
SET citus.multi_shard_modify_mode = 'sequential'
SET citus.propagate_set_commands = 'local'
SET row_security = off
AS $$
DECLARE
    fk record;
    t record;
    grantee pg_catalog.regrole;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RAISE EXCEPTION 'support.distribute() needs the citus extension in this database'
            USING ERRCODE = '0A000',
                  HINT = 'On a Citus coordinator run CREATE EXTENSION citus before CREATE EXTENSION conversations_ext; see docs/scale-out.md.';
    END IF;
    EXECUTE 'SELECT pg_catalog.citus_is_coordinator()' INTO STRICT t;
    IF NOT t.citus_is_coordinator THEN
        RAISE EXCEPTION 'support.distribute() runs on the Citus coordinator, not on a worker'
            USING ERRCODE = '55000';
    END IF;
    IF shard_count IS NULL OR shard_count < 1 THEN
        RAISE EXCEPTION 'shard_count must be a positive number, not %', shard_count
            USING ERRCODE = '22023';
    END IF;

    IF NOT support.distributed() THEN
        -- 0. Restore mode on every node for the rest of this call
        -- (support.restoring()): Citus copies the rows already in the tables
        -- into the shards, and the triggers that fire there must take them
        -- as they are, as from pg_restore, not record them again.
        SET LOCAL row_security = off;

        -- 1. The extension's foreign keys, on every node.
        FOR fk IN SELECT k.rel, k.name FROM support.citus_foreign_keys() AS k LOOP
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_constraint AS c
                        WHERE c.conrelid OPERATOR(pg_catalog.=) fk.rel
                          AND c.conname OPERATOR(pg_catalog.=) fk.name) THEN
                EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel, fk.name);
            END IF;
            PERFORM support.on_workers(
                pg_catalog.format('ALTER TABLE IF EXISTS %s DROP CONSTRAINT IF EXISTS %I', fk.rel, fk.name));
        END LOOP;

        -- 2. The layout.
        FOR t IN SELECT l.relation, l.citus_table_type FROM support.citus_layout() AS l LOOP
            IF t.citus_table_type OPERATOR(pg_catalog.=) 'reference' THEN
                PERFORM pg_catalog.create_reference_table(t.relation);
            ELSIF t.relation OPERATOR(pg_catalog.=) 'support.conversations'::pg_catalog.regclass THEN
                PERFORM pg_catalog.create_distributed_table(t.relation, 'workspace_id',
                                                            shard_count => distribute.shard_count);
            ELSE
                PERFORM pg_catalog.create_distributed_table(t.relation, 'workspace_id',
                                                            colocate_with => 'support.conversations');
            END IF;
        END LOOP;

        -- The rows copied into the shards stay, hidden, in the coordinator's
        -- own tables: free that space.
        FOR t IN SELECT l.relation FROM support.citus_layout() AS l LOOP
            PERFORM pg_catalog.truncate_local_data_after_distributing_table(t.relation);
        END LOOP;

        -- 3. The foreign keys again, through Citus.
        FOR fk IN SELECT k.rel, k.name, k.definition FROM support.citus_foreign_keys() AS k LOOP
            EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.rel, fk.name, fk.definition);
        END LOOP;
    END IF;

    -- 4. Application roles given support.grant_usage() before: their
    -- privileges on every node (the workers' functions too).
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

    RETURN QUERY
        SELECT l.relation, l.citus_table_type FROM support.citus_layout() AS l;
END
$$;
REVOKE ALL ON FUNCTION support.distribute(integer) FROM PUBLIC;

-- Conversation numbers: #1, #2, ... per workspace, gapless, assigned on
-- insert. Existing conversations are numbered in created_at order (then id),
-- without firing the update triggers (nothing else of the rows changes).
ALTER TABLE support.conversations ADD COLUMN number bigint;
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

SELECT pg_catalog.pg_extension_config_dump('support.conversation_counters', '');
ALTER TABLE support.conversation_counters ENABLE ROW LEVEL SECURITY;
SET LOCAL session_replication_role = replica;
UPDATE support.conversations AS c SET number = n.number
  FROM (SELECT x.workspace_id, x.id,
               pg_catalog.row_number() OVER (PARTITION BY x.workspace_id ORDER BY x.created_at, x.id) AS number
          FROM support.conversations AS x) AS n
 WHERE c.workspace_id OPERATOR(pg_catalog.=) n.workspace_id AND c.id OPERATOR(pg_catalog.=) n.id;
INSERT INTO support.conversation_counters (workspace_id, last_number)
SELECT x.workspace_id, pg_catalog.max(x.number) FROM support.conversations AS x GROUP BY x.workspace_id;
SET LOCAL session_replication_role = origin;
ALTER TABLE support.conversations ALTER COLUMN number SET NOT NULL;
ALTER TABLE support.conversations ADD CONSTRAINT conversations_number_unique UNIQUE (workspace_id, number);
-- conversations, BEFORE INSERT, after conversations_before_insert (triggers
-- fire in name order): the workspace's next number, from its row of
-- support.conversation_counters, taken under that row's lock and rolled back
-- with the insert, so the numbers have no gaps and the inserts of one
-- workspace wait for each other's commit. SECURITY DEFINER: only the owner
-- writes the counters. An application role gets a number only for a
-- workspace it may insert into (conversations_before_insert refused a
-- viewer already); anyone else is refused by the insert policy, and never
-- takes, or waits for, another workspace's counter. A number given with the
-- row is refused (42501), except in restore mode, where the dump carries
-- the numbers and the counters.
CREATE FUNCTION support.conversations_number() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.number IS NOT NULL THEN
        IF pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.=) 'off' AND support.restoring() THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'column number of support.conversations is assigned by the database: leave it out or NULL'
            USING ERRCODE = '42501',
                  COLUMN = 'number',
                  HINT = 'Each workspace numbers its conversations 1, 2, 3, ... on insert.';
    END IF;
    IF NOT support.bypasses_row_security() AND support.workspace_role(NEW.workspace_id) IS NULL THEN
        RETURN NEW;  -- not a member: the WITH CHECK policy refuses the row (42501)
    END IF;
    INSERT INTO support.conversation_counters AS c (workspace_id, last_number)
    VALUES (NEW.workspace_id, 1)
    ON CONFLICT (workspace_id) DO UPDATE SET last_number = c.last_number OPERATOR(pg_catalog.+) 1
    RETURNING c.last_number INTO NEW.number;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION support.conversations_number() IS
    'Trigger: gives a new conversation its workspace''s next number (gapless: the counter row is locked until commit and rolled back with the insert); refuses a number given by the application.';

CREATE TRIGGER conversations_number
    BEFORE INSERT ON support.conversations
    FOR EACH ROW EXECUTE FUNCTION support.conversations_number();

-- Read state (docs/api.md#read-state): the transcript index becomes
-- (conversation_id, created_at, id) covering workspace_id and author_id, the
-- read positions, and support.mark_read() / support.unread_counts().
DROP INDEX support.conversation_messages_transcript_idx;
-- Transcript order, (created_at, id), which is also the order of read
-- positions (support.conversation_reads); also serves the cascade from
-- conversations. It covers workspace_id and author_id, so that counting a
-- conversation's unread messages (support.unread_counts: after a position,
-- not written by the caller, under the workspace policy) reads the index only.
CREATE INDEX conversation_messages_transcript_idx
    ON support.conversation_messages (conversation_id, created_at, id) INCLUDE (workspace_id, author_id);

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

SELECT pg_catalog.pg_extension_config_dump('support.conversation_reads', '');
ALTER TABLE support.conversation_reads ENABLE ROW LEVEL SECURITY;
-- conversation_reads: your own read positions in the workspaces you read.
-- Read-only (support.mark_read writes them).
CREATE POLICY conversation_reads_select_own ON support.conversation_reads FOR SELECT
    USING (user_id OPERATOR(pg_catalog.=) support.current_user_id() AND support.workspace_member(workspace_id));

-- SECURITY DEFINER: application roles have no write privilege on
-- conversation_reads, so this is the one way a position changes: the caller's
-- own, forward only, to a message of a conversation they read. The
-- conversation is looked up among support.member_workspaces() (a value, so on
-- Citus the check is made where the caller's identity is, the coordinator).
CREATE FUNCTION support.mark_read(conversation_id uuid, up_to_message_id uuid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    me uuid := support.require_user_id();   -- 28000 without an end user
    conv uuid := mark_read.conversation_id;
    ws uuid;
    at timestamptz;
    msg uuid;
BEGIN
    SELECT c.workspace_id INTO ws
      FROM support.conversations AS c
     WHERE c.id OPERATOR(pg_catalog.=) conv
       AND c.workspace_id OPERATOR(pg_catalog.=) ANY (support.member_workspaces());
    IF ws IS NULL THEN
        RAISE EXCEPTION 'conversation % not found', conv
            USING ERRCODE = 'P0002';
    END IF;
    IF up_to_message_id IS NULL THEN
        -- Everything there is now: the conversation's last message.
        SELECT m.created_at, m.id INTO at, msg
          FROM support.conversation_messages AS m
         WHERE m.conversation_id OPERATOR(pg_catalog.=) conv
           AND m.workspace_id OPERATOR(pg_catalog.=) ws
         ORDER BY m.created_at DESC, m.id DESC
         LIMIT 1;
        IF msg IS NULL THEN
            RETURN;  -- no message yet: nothing to read
        END IF;
    ELSE
        SELECT m.created_at, m.id INTO at, msg
          FROM support.conversation_messages AS m
         WHERE m.workspace_id OPERATOR(pg_catalog.=) ws
           AND m.id OPERATOR(pg_catalog.=) up_to_message_id
           AND m.conversation_id OPERATOR(pg_catalog.=) conv;
        IF msg IS NULL THEN
            RAISE EXCEPTION 'message % not found in conversation %', up_to_message_id, conv
                USING ERRCODE = 'P0002';
        END IF;
    END IF;
    INSERT INTO support.conversation_reads AS r
           (workspace_id, conversation_id, user_id, read_created_at, read_message_id)
    VALUES (ws, conv, me, at, msg)
    ON CONFLICT (workspace_id, conversation_id, user_id) DO UPDATE
       SET read_created_at = excluded.read_created_at,
           read_message_id = excluded.read_message_id,
           updated_at = excluded.updated_at   -- now(), as a value: Citus takes no function here
     WHERE ROW(r.read_created_at, r.read_message_id) OPERATOR(pg_catalog.<)
           ROW(excluded.read_created_at, excluded.read_message_id);
END
$$;

-- SECURITY INVOKER: row-level security applies to every conversation,
-- message and position it reads, exactly as to the caller's own query. Open
-- conversations only (active, escalated, claimed): a resolved conversation
-- has nothing left to act on, and counting it would make the cost grow with
-- the workspace's history; reopening one brings it back. Per conversation it
-- reads the index entries after the caller's position
-- (conversation_messages_transcript_idx covers every column it needs). One
-- query with GROUP BY on the distribution column, so on Citus each shard
-- counts its own conversations.
CREATE FUNCTION support.unread_counts()
RETURNS TABLE (workspace_id uuid, conversation_id uuid, unread bigint)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := support.require_user_id();   -- 28000 without an end user
BEGIN
    RETURN QUERY
    SELECT c.workspace_id, c.id, pg_catalog.count(*)
      FROM support.conversations AS c
      LEFT JOIN support.conversation_reads AS r
        ON r.workspace_id OPERATOR(pg_catalog.=) c.workspace_id
       AND r.conversation_id OPERATOR(pg_catalog.=) c.id
       AND r.user_id OPERATOR(pg_catalog.=) me
      JOIN support.conversation_messages AS m
        ON m.conversation_id OPERATOR(pg_catalog.=) c.id
       AND m.workspace_id OPERATOR(pg_catalog.=) c.workspace_id
       AND ROW(m.created_at, m.id) OPERATOR(pg_catalog.>)
           ROW(COALESCE(r.read_created_at, '-infinity'::timestamptz),
               COALESCE(r.read_message_id, '00000000-0000-0000-0000-000000000000'::uuid))
       AND m.author_id IS DISTINCT FROM me
     WHERE c.workspace_id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
       AND c.status OPERATOR(pg_catalog.=) ANY ('{active,escalated,claimed}'::text[])
     GROUP BY c.workspace_id, c.id;
END
$$;

-- Queue and SLA figures (docs/api.md#queue-and-sla-figures): one row per
-- workspace the caller reads, SECURITY INVOKER.
-- Now: the open conversations per status, and the oldest wait. The partial
-- index conversations_open_idx holds exactly the open conversations.
CREATE FUNCTION support.queue_figures()
RETURNS TABLE (workspace_id uuid, active bigint, escalated bigint, claimed bigint, oldest_waiting_since timestamptz)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.id,
           COALESCE(q.active, 0), COALESCE(q.escalated, 0), COALESCE(q.claimed, 0),
           q.oldest_waiting_since
      FROM support.workspaces AS w
      LEFT JOIN (
            SELECT c.workspace_id,
                   pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'active') AS active,
                   pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'escalated') AS escalated,
                   pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'claimed') AS claimed,
                   pg_catalog.min(c.escalated_at) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'escalated')
                       AS oldest_waiting_since
              FROM support.conversations AS c
             WHERE c.workspace_id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
               AND c.status OPERATOR(pg_catalog.=) ANY ('{active,escalated,claimed}'::text[])
             GROUP BY c.workspace_id) AS q
        ON q.workspace_id OPERATOR(pg_catalog.=) w.id
$$;

-- Now: per member who may claim (a human owner, admin or agent), the
-- conversations they hold and since when the oldest of them. Members who hold
-- none have a row of zeros: the lead sees who is free.
CREATE FUNCTION support.agent_figures()
RETURNS TABLE (workspace_id uuid, user_id uuid, claimed bigint, oldest_claim_since timestamptz)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.workspace_id, m.user_id, COALESCE(q.claimed, 0), q.oldest_claim_since
      FROM support.workspace_members AS m
      -- Each member's kind by its primary key (OFFSET 0 keeps the planner
      -- from scanning all users instead, each under the users policy).
      JOIN LATERAL (SELECT u.kind FROM support.users AS u
                     WHERE u.id OPERATOR(pg_catalog.=) m.user_id OFFSET 0) AS u
        ON u.kind OPERATOR(pg_catalog.=) 'human'
      LEFT JOIN (
            SELECT c.workspace_id, c.claimed_by,
                   pg_catalog.count(*) AS claimed,
                   pg_catalog.min(c.claimed_at) AS oldest_claim_since
              FROM support.conversations AS c
             WHERE c.workspace_id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
               AND c.status OPERATOR(pg_catalog.=) 'claimed'
             GROUP BY c.workspace_id, c.claimed_by) AS q
        ON q.workspace_id OPERATOR(pg_catalog.=) m.workspace_id
       AND q.claimed_by OPERATOR(pg_catalog.=) m.user_id
     WHERE m.workspace_id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
       AND m.role OPERATOR(pg_catalog.=) ANY ('{owner,admin,agent}'::text[])
$$;

-- Over the conversations created in [since, until): how many; median and 90th
-- percentile of the time to the first agent reply (first_agent_reply_at -
-- created_at, of those answered) and of the time to resolution (resolved_at -
-- created_at, of those resolved now); and the reopen rate: of those resolved
-- at least once, the share that was reopened. The window is read from
-- conversations_inbox_idx (workspace_id, created_at).
CREATE FUNCTION support.sla_figures(since timestamptz DEFAULT pg_catalog.now() OPERATOR(pg_catalog.-) '30 days'::interval,
                                    until timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (workspace_id uuid, conversations bigint,
               first_reply_p50 interval, first_reply_p90 interval,
               resolution_p50 interval, resolution_p90 interval,
               reopen_rate double precision)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF since IS NULL OR until IS NULL OR since OPERATOR(pg_catalog.>) until THEN
        RAISE EXCEPTION 'the window [since, until) needs since <= until, neither NULL'
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    SELECT w.id, COALESCE(q.conversations, 0),
           q.first_reply_p50, q.first_reply_p90, q.resolution_p50, q.resolution_p90, q.reopen_rate
      FROM support.workspaces AS w
      LEFT JOIN (
            SELECT c.workspace_id,
                   pg_catalog.count(*) AS conversations,
                   pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY c.first_agent_reply_at OPERATOR(pg_catalog.-) c.created_at)
                       AS first_reply_p50,
                   pg_catalog.percentile_cont(0.9) WITHIN GROUP (ORDER BY c.first_agent_reply_at OPERATOR(pg_catalog.-) c.created_at)
                       AS first_reply_p90,
                   pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY c.resolved_at OPERATOR(pg_catalog.-) c.created_at)
                       AS resolution_p50,
                   pg_catalog.percentile_cont(0.9) WITHIN GROUP (ORDER BY c.resolved_at OPERATOR(pg_catalog.-) c.created_at)
                       AS resolution_p90,
                   (pg_catalog.count(*) FILTER (WHERE c.reopen_count OPERATOR(pg_catalog.>) 0))::double precision
                     OPERATOR(pg_catalog./)
                   NULLIF(pg_catalog.count(*) FILTER (WHERE c.resolved_at IS NOT NULL
                                                         OR c.reopen_count OPERATOR(pg_catalog.>) 0), 0)
                       AS reopen_rate
              FROM support.conversations AS c
             WHERE c.workspace_id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
               AND c.created_at OPERATOR(pg_catalog.>=) since
               AND c.created_at OPERATOR(pg_catalog.<) until
             GROUP BY c.workspace_id) AS q
        ON q.workspace_id OPERATOR(pg_catalog.=) w.id;
END
$$;

-- Notifications (docs/security.md#notifications): the secret, the channel
-- functions and the triggers that notify.
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

ALTER TABLE support.notification_secret ENABLE ROW LEVEL SECURITY;
CREATE  FUNCTION "random_secret"() RETURNS bytea /* alloc::vec::Vec<u8> */
STRICT VOLATILE PARALLEL SAFE 
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'random_secret_wrapper';

CREATE  FUNCTION "notification_channel_of"(
	"workspace_id" uuid /* pgrx :: Uuid */
) RETURNS TEXT /* alloc::string::String */
STRICT STABLE SECURITY DEFINER PARALLEL SAFE 
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'notification_channel_of_wrapper';

CREATE  FUNCTION "notification_channel"(
	"workspace_id" uuid /* pgrx :: Uuid */
) RETURNS TEXT /* alloc::string::String */
STRICT STABLE SECURITY DEFINER PARALLEL SAFE 
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'notification_channel_wrapper';
COMMENT ON FUNCTION support.random_secret() IS
    'Internal (notification secret): 32 bytes from the operating system''s random source.';
COMMENT ON FUNCTION support.notification_channel_of(uuid) IS
    'Internal (notification triggers, as the owner): the channel of a workspace, without any membership check. Never granted to application roles.';

CREATE  FUNCTION "notification_secret_changed"() RETURNS void
STRICT VOLATILE PARALLEL UNSAFE 
SET search_path TO pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'notification_secret_changed_wrapper';
COMMENT ON FUNCTION support.notification_secret_changed() IS
    'Internal (trigger of support.notification_secret): a relcache invalidation of the table, so that every backend forgets the secret it cached.';
INSERT INTO support.notification_secret (secret) VALUES (support.random_secret());

-- Any change to the secret (rotation, or the DBA's own UPDATE) makes every
-- backend forget the secret it cached (src/notifications.rs): at commit, and
-- for the changing backend also at abort.
CREATE FUNCTION support.notification_secret_invalidate() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM support.notification_secret_changed();
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.notification_secret_invalidate() IS
    'Trigger: after any change to support.notification_secret, every backend forgets the secret it cached.';
CREATE TRIGGER notification_secret_invalidate
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON support.notification_secret
    FOR EACH STATEMENT EXECUTE FUNCTION support.notification_secret_invalidate();

-- A new message: {"kind": "message", "conversation_id": ..., "message_id": ...}.
CREATE FUNCTION support.conversation_messages_notify() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Not in a database with Citus (docs/scale-out.md): the trigger fires on
    -- the worker holding the shard, whose listeners are not the
    -- application's, and a worker's transaction that notified cannot take
    -- part in a two-phase commit (0A000).
    IF support.restoring() OR pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_notify(
        support.notification_channel_of(NEW.workspace_id),
        pg_catalog.json_build_object('kind', 'message', 'conversation_id', NEW.conversation_id,
                                     'message_id', NEW.id)::text);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.conversation_messages_notify() IS
    'Trigger: notifies the workspace''s channel of a new message (kind message, conversation and message ids), at commit.';
CREATE TRIGGER conversation_messages_notify
    AFTER INSERT ON support.conversation_messages
    FOR EACH ROW EXECUTE FUNCTION support.conversation_messages_notify();

-- Every event of the audit trail (created, escalated, claimed, released,
-- transferred, resolved, reopened, unassigned, ...): {"kind": <the event's
-- kind>, "conversation_id": ..., "event_id": ...}.
CREATE FUNCTION support.conversation_events_notify() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Not in a database with Citus (docs/scale-out.md): the trigger fires on
    -- the worker holding the shard, whose listeners are not the
    -- application's, and a worker's transaction that notified cannot take
    -- part in a two-phase commit (0A000).
    IF support.restoring() OR pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        RETURN NULL;
    END IF;
    PERFORM pg_catalog.pg_notify(
        support.notification_channel_of(NEW.workspace_id),
        pg_catalog.json_build_object('kind', NEW.kind, 'conversation_id', NEW.conversation_id,
                                     'event_id', NEW.id)::text);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION support.conversation_events_notify() IS
    'Trigger: notifies the workspace''s channel of each audit event (its kind, conversation and event ids), at commit.';
CREATE TRIGGER conversation_events_notify
    AFTER INSERT ON support.conversation_events
    FOR EACH ROW EXECUTE FUNCTION support.conversation_events_notify();

-- For the DBA: a new secret, so every channel changes (after removing a
-- member who must stop hearing of the workspace; applications fetch their
-- channels again). Not granted to application roles.
CREATE FUNCTION support.rotate_notification_secret() RETURNS void
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE support.notification_secret SET secret = support.random_secret(), created_at = pg_catalog.now();
$$;

-- LISTEN on a workspace's channel without the channel's name appearing in the
-- statement: pg_stat_activity shows the text of every statement to the other
-- sessions of the same login role, and a LISTEN "cx_..." there would hand the
-- name to them. Returns the channel, to match the notifications that arrive.
-- SECURITY INVOKER: support.notification_channel() checks the caller reads
-- the workspace. LISTEN takes effect when the transaction commits.
CREATE FUNCTION support.listen(workspace_id uuid) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    channel text := support.notification_channel(listen.workspace_id);
BEGIN
    EXECUTE pg_catalog.format('LISTEN %I', channel);
    RETURN channel;
END
$$;

-- The opposite of support.listen(): stop listening on a workspace's channel.
CREATE FUNCTION support.unlisten(workspace_id uuid) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    channel text := support.notification_channel(unlisten.workspace_id);
BEGIN
    EXECUTE pg_catalog.format('UNLISTEN %I', channel);
    RETURN channel;
END
$$;

-- Message search (docs/api.md#message-search): each workspace's text search
-- configuration, each message's (the insert trigger copies the workspace's)
-- and the generated search_vector with its GIN index. Adding the generated
-- column rewrites support.conversation_messages (minutes for millions of
-- messages; docs/operations.md#upgrade).
ALTER TABLE support.workspaces ADD COLUMN search_config text NOT NULL DEFAULT 'simple';
COMMENT ON COLUMN support.workspaces.search_config IS
    'Text search configuration of the workspace''s messages (default simple: no stemming, any language). Set with support.set_search_config.';
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

ALTER TABLE support.conversation_messages
    ADD COLUMN search_config text NOT NULL DEFAULT 'simple',
    ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        support.search_vector(search_config, workspace_id, content)) STORED;
COMMENT ON COLUMN support.conversation_messages.search_config IS
    'The text search configuration search_vector was built with: the workspace''s (workspaces.search_config) when the message was posted or the configuration last changed.';
COMMENT ON COLUMN support.conversation_messages.search_vector IS
    'Generated: the words of content under search_config, and the lexeme workspace:<workspace_id>, for support.search_messages (GIN index).';
CREATE INDEX conversation_messages_search_idx
    ON support.conversation_messages USING gin (search_vector);
CREATE OR REPLACE FUNCTION support.conversation_messages_before_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    restored boolean := false;
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
    ELSE
        restored := support.restoring();   -- only a role that bypasses RLS can restore
    END IF;

    -- The workspace's text search configuration (search_vector follows it);
    -- a restore keeps the one dumped.
    IF NOT restored THEN
        SELECT w.search_config INTO NEW.search_config
          FROM support.workspaces AS w
         WHERE w.id OPERATOR(pg_catalog.=) NEW.workspace_id;
        NEW.search_config := COALESCE(NEW.search_config, 'simple');
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION support.conversation_messages_before_insert() IS
    'Trigger: fills workspace_id from the parent conversation when omitted (parent looked up under the caller''s RLS); for application roles, author_id is the caller and the message role must suit the caller''s workspace role; search_config is the workspace''s.';

CREATE FUNCTION support.search_messages(query text, max_rows integer DEFAULT 50)
RETURNS TABLE (workspace_id uuid, conversation_id uuid, message_id uuid, created_at timestamptz,
               rank real, snippet text)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k record;
    parts text[];
BEGIN
    IF max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 OR max_rows OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', max_rows
            USING ERRCODE = '22023';
    END IF;
    IF query IS NULL THEN
        RAISE EXCEPTION 'query must not be NULL'
            USING ERRCODE = '22004';
    END IF;
    FOR k IN
        SELECT w.search_config AS config,
               pg_catalog.websearch_to_tsquery(w.search_config::pg_catalog.regconfig, search_messages.query) AS words,
               pg_catalog.array_agg(w.id ORDER BY w.id) AS ids,
               pg_catalog.string_agg(pg_catalog.quote_literal('workspace:' OPERATOR(pg_catalog.||) w.id::text),
                                     ' | ' ORDER BY w.id)::pg_catalog.tsquery AS lexemes
          FROM support.workspaces AS w
         WHERE w.id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
         GROUP BY w.search_config
    LOOP
        CONTINUE WHEN pg_catalog.numnode(k.words) OPERATOR(pg_catalog.=) 0;
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format(
            'SELECT m.workspace_id, m.conversation_id, m.id, m.created_at, m.content, %1$L::pg_catalog.regconfig AS config, '
            '%2$L::pg_catalog.tsquery AS words, pg_catalog.ts_rank(m.search_vector, %2$L::pg_catalog.tsquery) AS rank '
            'FROM support.conversation_messages AS m '
            'WHERE m.search_vector OPERATOR(pg_catalog.@@) %4$L::pg_catalog.tsquery '
            'AND m.workspace_id OPERATOR(pg_catalog.=) ANY (%3$L::uuid[]) '
            'AND m.search_config OPERATOR(pg_catalog.=) %1$L',
            k.config, k.words, k.ids,
            -- the workspaces' lexemes, when they are few: an OR of many costs
            -- the index more than it saves (measured: docs/performance.md)
            CASE WHEN pg_catalog.cardinality(k.ids) OPERATOR(pg_catalog.<=) 20
                 THEN k.words OPERATOR(pg_catalog.&&) k.lexemes ELSE k.words END);
    END LOOP;
    IF parts IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT h.workspace_id, h.conversation_id, h.id, h.created_at, h.rank, '
        'pg_catalog.ts_headline(h.config, h.content, h.words, %L) '
        'FROM (SELECT u.* FROM (%s) AS u ORDER BY u.rank DESC, u.created_at DESC, u.id LIMIT %s) AS h '
        'ORDER BY h.rank DESC, h.created_at DESC, h.id',
        'StartSel=<<, StopSel=>>, MaxWords=20, MinWords=8',
        pg_catalog.array_to_string(parts, ' UNION ALL '), max_rows);
END
$$;

-- The owner or an admin of a workspace sets its text search configuration.
-- Its messages are indexed again under it (an UPDATE of each message's
-- search_config: search_vector is generated from it), in this transaction.
-- SECURITY DEFINER: application roles may not update those columns.
CREATE FUNCTION support.set_search_config(workspace_id uuid, config regconfig)
RETURNS regconfig
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ws uuid := set_search_config.workspace_id;
    role text;
BEGIN
    PERFORM support.require_user_id();   -- 28000 without an end user
    role := support.workspace_role(ws);
    IF role IS NULL THEN
        RAISE EXCEPTION 'workspace % not found', ws
            USING ERRCODE = 'P0002';
    END IF;
    IF role OPERATOR(pg_catalog.<>) ALL ('{owner,admin}'::text[]) THEN
        RAISE EXCEPTION 'workspace role % cannot set the search configuration', role
            USING ERRCODE = '42501',
                  HINT = 'An owner or admin of the workspace can. See docs/permissions.md.';
    END IF;
    IF config IS NULL THEN
        RAISE EXCEPTION 'config must not be NULL'
            USING ERRCODE = '22004';
    END IF;
    -- Stored by name (sql/00_schema.sql), as this search_path spells it.
    UPDATE support.workspaces AS w SET search_config = config::text
     WHERE w.id OPERATOR(pg_catalog.=) ws AND w.search_config OPERATOR(pg_catalog.<>) config::text;
    UPDATE support.conversation_messages AS m SET search_config = config::text
     WHERE m.workspace_id OPERATOR(pg_catalog.=) ws AND m.search_config OPERATOR(pg_catalog.<>) config::text;
    RETURN config;
END
$$;

-- catalog comments: begin (generated by scripts/catalog_comments.py from docs/api.md)
COMMENT ON FUNCTION support.current_user_id() IS
    'The end user of the current transaction, or NULL for nobody. A token verified by support.authenticate() in this transaction comes first; in support.identity_mode = claims the first of request.jwt.claims (its sub), request.jwt.claim.sub and support.user_id that this transaction set decides. A value left from an earlier transaction or a session-level SET is ignored. A subject that is not a UUID, or claims that are not JSON, raise 22P02.';
COMMENT ON FUNCTION support.propagate_identity() IS
    'On a Citus cluster, makes the current end user (as support.current_user_id() reads it on the coordinator) the end user of every worker this transaction uses, with SET LOCAL support.user_id propagated by Citus: the policies and audit triggers run there. Citus does not send values set with set_config(), which is how PostgREST and Supabase pass claims: call this once per transaction after them (PostgREST''s db-pre-request). Returns that user, or NULL for nobody (then nothing is sent). Without Citus it only returns the user.';
COMMENT ON FUNCTION support.member_workspaces() IS
    'Ids of the workspaces the current user reads, in uuid order: those they belong to, whatever the role, and for support staff the workspaces they serve (an empty array for nobody).';
COMMENT ON FUNCTION support.workspace_member(uuid) IS
    'True when the current user is a member of the workspace, whatever the role, or support staff serving it; false otherwise, also for a workspace that does not exist and for nobody. Every row-level security policy is support.workspace_member(workspace_id); each call reads the identity and probes the caller''s membership set, cached per connection and checked against the statement''s snapshot (docs/security.md#membership-cache).';
COMMENT ON FUNCTION support.workspace_role(uuid) IS
    'The current user''s effective role in the workspace: owner, admin, agent or viewer, or bot for a user of kind bot whose role is not viewer (a bot with role viewer is a viewer). viewer for support staff who serve the workspace without having joined it. NULL when the current user is neither. The role decides every write (docs/permissions.md).';
COMMENT ON FUNCTION support.authenticate(text) IS
    'Verifies a JWT against support.jwt_keys and makes its sub the current user until the end of the current transaction (also undone when the savepoint it was called in is rolled back). The key named by the token''s kid (without kid: the only active key of the token''s algorithm) decides the algorithm: HS256, HS384, HS512, EdDSA (Ed25519) or ES256. Checks the signature, exp (required), nbf, aud and iss when the key row sets them (30 s leeway), and that sub is a UUID. Any refusal raises 28000 with the message invalid token; the reason goes to the server log only.';
COMMENT ON FUNCTION support.mark_read(uuid,uuid) IS
    'Marks a conversation read for the current user: up to its last message, or up to up_to_message_id (a message of that conversation). The position only moves forward: marking an earlier message leaves it where it is. A conversation without messages has nothing to mark. Any member of the workspace, whatever the role, and support staff who serve it. Errors: 28000 no current user, P0002 conversation not found (also another workspace''s) or message not in that conversation.';
COMMENT ON FUNCTION support.unread_counts() IS
    'For each open conversation (active, escalated or claimed) the current user reads, the number of messages after their read position that someone else wrote; conversations with none are left out. Resolved conversations are not counted (reopening one brings it back). Reads only the transcript index after each position: under 5 ms for an agent with 200 open conversations (docs/performance.md). Row-level security applies as to the caller''s own query. Errors: 28000 no current user.';
COMMENT ON FUNCTION support.queue_figures() IS
    'Now, per workspace the current user reads: its open conversations by status (active, escalated, claimed) and since when the oldest escalated one has waited (its escalated_at; NULL when none waits). One row per workspace, zeros included. Row-level security applies as to the caller''s own query.';
COMMENT ON FUNCTION support.agent_figures() IS
    'Now, per member who may claim (a human owner, admin or agent) of each workspace the current user reads: how many conversations they hold and since when the oldest (its claimed_at). Members who hold none have a row with 0, so the lead sees who is free. Row-level security applies as to the caller''s own query.';
COMMENT ON FUNCTION support.sla_figures(timestamp with time zone,timestamp with time zone) IS
    'Over the conversations created in the window [since, until) (default: the last 30 days), per workspace the current user reads: how many; the median and 90th percentile (interpolated, percentile_cont) of the time to the first agent reply (first_agent_reply_at - created_at, of those answered) and of the time to resolution (resolved_at - created_at, of those resolved now); and the reopen rate (of those resolved at least once, the share reopened). NULL where there is nothing to measure. Row-level security applies as to the caller''s own query. Errors: 22023 since after until, or NULL.';
COMMENT ON FUNCTION support.listen(uuid) IS
    'LISTEN on the notification channel of a workspace the current user reads, without the channel''s name appearing in the statement (other sessions of the same login role see statement texts in pg_stat_activity). Returns the channel, to match the notifications that arrive. Takes effect when the transaction commits. Errors: 28000 no current user, P0002 workspace not found (also one the caller does not read).';
COMMENT ON FUNCTION support.unlisten(uuid) IS
    'Stops listening on a workspace''s notification channel (UNLISTEN, at commit). Returns the channel. Errors: 28000 no current user, P0002 workspace not found.';
COMMENT ON FUNCTION support.notification_channel(uuid) IS
    'The notification channel of a workspace the current user reads (a member, whatever the role, or support staff serving it): cx_ and 32 hex digits, an HMAC-SHA256 of the workspace id under a server-side secret, the same on every call until the DBA rotates the secret. Errors: 28000 no current user, P0002 workspace not found (also one the caller does not read, so a name cannot be tried for existence).';
COMMENT ON FUNCTION support.search_messages(text,integer) IS
    'The messages of the workspaces the current user reads that match query (websearch syntax: words, "a phrase", or, -word), best first (ts_rank, then newest), at most max_rows (1 to 1000, default 50), each with a snippet of its text, the matches between << and >>. Each workspace''s messages are searched under its text search configuration. A query of stop words only matches nothing. Reads exactly the messages row-level security lets the caller read (the policies'' rule, applied by the function so that the GIN index serves it). Errors: 22023 max_rows out of range or NULL, 22004 query NULL.';
COMMENT ON FUNCTION support.set_search_config(uuid,regconfig) IS
    'An owner or admin sets the text search configuration of the workspace''s messages (default simple: no stemming, right for any language; english, german, ... stem their language''s words). The workspace''s messages are indexed again under it, in the same transaction. Returns the configuration. Errors: 28000 no current user, P0002 workspace not found, 42501 caller''s role, 22004 NULL, 42704 no such configuration (the cast to regconfig).';
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
COMMENT ON FUNCTION support.join_as_staff(uuid) IS
    'Support staff (support.staff) join a workspace they serve, with their staff role, to claim and reply there; before joining they read it and act as viewers. Audited in support.member_events as added, with the staff user as actor; the membership is marked joined_as_staff and is removed again if the workspace refuses staff. Returns the membership (an existing one unchanged). Errors: 28000 no current user, P0002 not staff, not serving that workspace, or no such workspace.';
COMMENT ON FUNCTION support.set_staff_access(uuid,boolean) IS
    'The workspace''s owner allows (true) or refuses (false) support staff. Refusing removes the members who joined as staff (their claims return to the queue) and ends staff reads of the workspace from the next statement. Audited in support.member_events as staff_allowed or staff_refused. Returns the new setting. Errors: 28000 no current user, P0002 workspace not found, 42501 caller is not its owner, 22004 NULL.';
COMMENT ON FUNCTION support.inbox(integer) IS
    'The newest conversations across all the workspaces the current user reads (their memberships, and for support staff the workspaces they serve), newest first (created_at, then id), at most max_rows (1 to 1000, default 50). For a member of more than max_rows workspaces it reads the newest conversation of each first and keeps the max_rows workspaces whose newest is newest; then the newest keys of those, and the rows of the winners only: exact, and fast for a member of thousands of workspaces. Row-level security applies as to the caller''s own query.';
COMMENT ON FUNCTION support.grant_usage(regrole) IS
    'Gives an application role exactly what its end users need, revoking anything else it had on support objects: USAGE on the schema, column-level privileges on the tables (row-level security applies), and EXECUTE on the public functions. Idempotent; ALTER EXTENSION UPDATE re-applies it to every role that had it. For the DBA (superuser or extension owner).';
COMMENT ON FUNCTION support.rotate_notification_secret() IS
    'A new notification secret, so every workspace''s channel changes: after removing a member who must stop hearing of the workspace''s activity. Listeners fall silent until they fetch their channels again (support.listen). For the DBA (not granted to application roles).';
COMMENT ON FUNCTION support.distribute(integer) IS
    'On a Citus coordinator: makes the extension''s tables the supported distributed layout, support.citus_layout(): users, workspaces, workspace_members, staff and staff_workspaces reference tables; conversations, conversation_counters, conversation_messages, conversation_reads, conversation_events and member_events distributed by workspace_id and colocated, in shard_count shards (default 32). Re-applies support.grant_usage() to every role that had it, on every node. Idempotent: once distributed it changes nothing and returns the same layout. Run it in a transaction of its own. For the DBA (superuser).';
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
