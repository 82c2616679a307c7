-- conversations_ext: tenant-safe notifications (docs/security.md#notifications).
--
-- Each workspace has a channel whose name is derived from a server-side
-- secret (support.notification_channel_of: HMAC-SHA256 of the workspace id);
-- members obtain it with support.notification_channel(workspace_id). The
-- triggers below send ids and kinds to it, never content: pg_notify delivers
-- them when the transaction commits, and not at all when it rolls back.
-- They are SECURITY DEFINER because only the owner may derive a channel; in
-- restore mode they send nothing (restored rows are not news).

INSERT INTO support.notification_secret (secret) VALUES (support.random_secret());

-- A new message: {"kind": "message", "conversation_id": ..., "message_id": ...}.
CREATE FUNCTION support.conversation_messages_notify() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF support.restoring() THEN
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
    IF support.restoring() THEN
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
