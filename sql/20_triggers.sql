-- conversations_ext: triggers. Every trigger function pins search_path:
-- foreign-key actions run triggers with the table owner's rights and the
-- caller's search_path, so an unpinned name could resolve to a tenant's object.
--
-- "Subject to RLS" below means pg_catalog.row_security_active() is true for the
-- table: an application role. The table owner (the extension's functions, which
-- are SECURITY DEFINER, foreign-key actions, pg_restore) is not, and its writes
-- are taken as they are: restores keep their timestamps.
--
-- Restore mode: pg_dump scripts and pg_restore run with row_security = off. A
-- role subject to RLS cannot write at all with row_security = off (its
-- statements fail), so "row_security is off" is only ever true for privileged
-- bulk loads; then the triggers take rows exactly as given and record no
-- events (the dump carries the original events).

-- conversations, BEFORE INSERT.
CREATE FUNCTION support.conversations_before_insert() RETURNS trigger
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

CREATE TRIGGER conversations_before_insert
    BEFORE INSERT ON support.conversations
    FOR EACH ROW EXECUTE FUNCTION support.conversations_before_insert();

-- conversations, BEFORE UPDATE.
CREATE FUNCTION support.conversations_before_update() RETURNS trigger
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

CREATE TRIGGER conversations_before_update
    BEFORE UPDATE ON support.conversations
    FOR EACH ROW EXECUTE FUNCTION support.conversations_before_update();

-- conversation_messages, BEFORE INSERT: fill workspace_id from the parent.
-- The parent is looked up with the caller's rights (RLS applies), so a
-- conversation of another workspace is "not found" exactly like a missing one.
CREATE FUNCTION support.conversation_messages_before_insert() RETURNS trigger
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
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION support.conversation_messages_before_insert() IS
    'Trigger: fills workspace_id from the parent conversation when omitted (parent looked up under the caller''s RLS).';

CREATE TRIGGER conversation_messages_before_insert
    BEFORE INSERT ON support.conversation_messages
    FOR EACH ROW EXECUTE FUNCTION support.conversation_messages_before_insert();

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
