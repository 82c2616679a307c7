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
