-- conversations_ext: read positions and unread counts (docs/api.md#read-state).
--
-- A user's position in a conversation is the last message they have read, in
-- transcript order (created_at, id); every message after it that someone else
-- wrote is unread. support.mark_read() moves the caller's position forward
-- (never back); support.unread_counts() counts, for each open conversation the
-- caller reads, the messages after their position that they did not write.

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
