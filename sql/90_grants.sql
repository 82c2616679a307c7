-- conversations_ext: privileges. The extension creates no roles and grants
-- nothing to PUBLIC: a DBA gives an application role what it needs with
-- support.grant_usage(role).

CREATE FUNCTION support.grant_usage(app_role pg_catalog.regrole) RETURNS void
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
    -- workspace_id is granted so that a move attempt meets the clear CV005 error
    -- from the trigger rather than a bare permission error; it never changes.
    EXECUTE format('GRANT UPDATE (workspace_id, bot_user_id, channel, subject) ON support.conversations TO %s', r);

    -- Messages: append, edit the text, delete; ids and timestamps are the database's.
    EXECUTE format('GRANT SELECT, DELETE ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT INSERT (workspace_id, conversation_id, role, author_id, content) ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT UPDATE (content) ON support.conversation_messages TO %s', r);

    -- The public functions (policies call the identity and membership helpers
    -- as the querying role, so those are needed too).
    EXECUTE format('GRANT EXECUTE ON FUNCTION support.current_user_id(), support.member_workspaces(), '
                   'support.workspace_member(uuid), support.claim_conversation(uuid) TO %s', r);
END
$$;
COMMENT ON FUNCTION support.grant_usage(pg_catalog.regrole) IS
    'Grants an application role what its end users need: schema usage, column-level table privileges (RLS applies), and EXECUTE on the public functions.';

-- PostgreSQL grants EXECUTE to PUBLIC on every new function: take it back.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA support FROM PUBLIC;
