-- conversations_ext: triggers. Every trigger function pins search_path:
-- foreign-key actions run triggers with the table owner's rights and the
-- caller's search_path, so an unpinned name could resolve to a tenant's object.
--
-- "Subject to RLS" below means pg_catalog.row_security_active() is true for the
-- table: an application role. The table owner (the extension's functions, which
-- are SECURITY DEFINER, foreign-key actions, pg_restore) is not, and its writes
-- are taken as they are: restores keep their timestamps.

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
       AND (NEW.status, NEW.claimed_by, NEW.claimed_at, NEW.escalated_at, NEW.resolved_at)
           IS DISTINCT FROM
           (OLD.status, OLD.claimed_by, OLD.claimed_at, OLD.escalated_at, OLD.resolved_at)
    THEN
        IF NEW.status NOT IN ('active', 'escalated', 'claimed', 'resolved') THEN
            RETURN NEW;  -- let the CHECK constraint report the typo (23514)
        END IF;
        RAISE EXCEPTION 'the lifecycle of conversation % is changed only through the support.* functions', OLD.id
            USING ERRCODE = '42501',
                  DETAIL = 'status, claimed_by, claimed_at, escalated_at and resolved_at cannot be written directly.',
                  HINT = 'Use support.claim_conversation().';
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
