-- conversations_ext: triggers. Every trigger function pins search_path:
-- foreign-key actions run triggers with the table owner's rights and the
-- caller's search_path, so an unpinned name could resolve to a tenant's object.
--
-- "Subject to RLS" below means pg_catalog.row_security_active() is true for the
-- table: an application role writing directly. The table owner (the
-- extension's functions, which are SECURITY DEFINER, foreign-key actions, the
-- DBA, pg_restore) is not, and its writes are taken as they are.
--
-- What a member may write depends on their workspace role and user kind
-- (support.workspace_role(): owner, admin, agent, viewer or bot). The rules are
-- the permission matrix, docs/permissions.tsv; the triggers below enforce the
-- part of it that concerns plain INSERT/UPDATE/DELETE. A member who is not in
-- the row's workspace never reaches a role check: row-level security hides the
-- row or refuses it first, exactly as for a row that does not exist.
--
-- Restore mode: support.restoring() is true only while a role that bypasses
-- row-level security (superuser, BYPASSRLS, the tables' owner) has
-- row_security = off, which is what pg_dump scripts and pg_restore do. Then the
-- triggers take rows exactly as given and record no events (the dump carries
-- the original events). An application role cannot reach restore mode: setting
-- row_security = off does not make it bypass anything.

-- conversations, BEFORE INSERT.
CREATE FUNCTION support.conversations_before_insert() RETURNS trigger
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

CREATE TRIGGER conversations_before_insert
    BEFORE INSERT ON support.conversations
    FOR EACH ROW EXECUTE FUNCTION support.conversations_before_insert();

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

-- conversations, BEFORE UPDATE.
CREATE FUNCTION support.conversations_before_update() RETURNS trigger
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

CREATE TRIGGER conversations_before_update
    BEFORE UPDATE ON support.conversations
    FOR EACH ROW EXECUTE FUNCTION support.conversations_before_update();

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

-- conversation_messages, BEFORE INSERT: fill workspace_id from the parent,
-- then, for application roles, who may post what and as whom.
-- The parent is looked up with the caller's rights (RLS applies), so a
-- conversation of another workspace is "not found" exactly like a missing one.
CREATE FUNCTION support.conversation_messages_before_insert() RETURNS trigger
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

CREATE TRIGGER conversation_messages_before_insert
    BEFORE INSERT ON support.conversation_messages
    FOR EACH ROW EXECUTE FUNCTION support.conversation_messages_before_insert();

-- conversation_messages, BEFORE UPDATE: only the author edits a message.
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

-- conversations, AFTER INSERT/UPDATE/DELETE: the audit trail. SECURITY DEFINER
-- (application roles have no privilege on conversation_events). The kind comes
-- from the lifecycle function that made the change (support.lifecycle_pending,
-- backend memory no setting can reach; on Citus the function's UPDATE brings
-- it, and the acting user, to the node that holds the row) or, for any other path, from the change
-- itself: an owner removed by the foreign-key action is 'unassigned'. A change
-- made by a lifecycle function is always recorded, whatever the caller's
-- settings; only restore mode (support.restoring()) skips the others.
CREATE FUNCTION support.conversations_audit() RETURNS trigger
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
COMMENT ON FUNCTION support.conversations_audit() IS
    'Trigger: appends to support.conversation_events every creation, state change, ownership change and deletion of a conversation.';

CREATE TRIGGER conversations_audit
    AFTER INSERT OR UPDATE OR DELETE ON support.conversations
    FOR EACH ROW EXECUTE FUNCTION support.conversations_audit();

-- conversation_messages, AFTER UPDATE/DELETE: edits and deletions are events
-- (which message, who, when; never the content). A message that goes because
-- its conversation was deleted is covered by the conversation's 'deleted' event.
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

-- conversation_messages, AFTER INSERT: the first real agent reply after
-- escalation stamps first_agent_reply_at. "Real": role agent, written by a
-- human member with role agent, admin or owner (for application roles the
-- insert trigger guarantees it; for the table owner's own inserts it is
-- checked here). SECURITY DEFINER: application roles cannot write that column.
CREATE FUNCTION support.conversation_messages_first_reply() RETURNS trigger
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

CREATE TRIGGER conversation_messages_first_reply
    AFTER INSERT ON support.conversation_messages
    FOR EACH ROW EXECUTE FUNCTION support.conversation_messages_first_reply();

-- workspace_members, AFTER INSERT/UPDATE/DELETE: the membership audit trail,
-- and a member demoted below agent gives up their claims (back to the queue,
-- each with an 'unassigned' event). Removal needs nothing here: the foreign
-- key's ON DELETE SET NULL (claimed_by) does it. Every path is covered: the
-- membership functions and the DBA's direct statements alike.
CREATE FUNCTION support.workspace_members_audit() RETURNS trigger
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
COMMENT ON FUNCTION support.workspace_members_audit() IS
    'Trigger: appends to support.member_events every membership added, changed or removed; a member demoted to viewer gives up their claims (unassigned).';

CREATE TRIGGER workspace_members_audit
    AFTER INSERT OR UPDATE OR DELETE ON support.workspace_members
    FOR EACH ROW EXECUTE FUNCTION support.workspace_members_audit();

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

-- jwt_keys, BEFORE INSERT/UPDATE: a key that could never verify a token, or
-- that is too weak to trust, is refused when it is stored (22023), not at
-- first use: HMAC secrets of at least 32/48/64 bytes (HS256/384/512, RFC 7518
-- section 3.2), public keys that parse as what alg says.
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
