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
    -- Exact, not additive: the role ends with precisely the privileges below,
    -- whatever an earlier version (or a hand-made GRANT) gave it. Upgrades call
    -- this again for every role that had it, so an application keeps working.
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA support FROM %s', r);
    EXECUTE format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA support FROM %s', r);
    EXECUTE format('GRANT USAGE ON SCHEMA support TO %s', r);

    -- Directory tables: read-only for end users (RLS narrows what they see).
    EXECUTE format('GRANT SELECT ON support.users, support.workspaces, support.workspace_members TO %s', r);

    -- Conversations: ids, lifecycle columns and timestamps are the database's.
    -- The lifecycle columns are granted for INSERT only so that an ORM may send
    -- them as NULL; the insert trigger refuses any other value, naming the column.
    EXECUTE format('GRANT SELECT, DELETE ON support.conversations TO %s', r);
    EXECUTE format('GRANT INSERT (workspace_id, bot_user_id, channel, status, subject, '
                   'claimed_by, claimed_at, escalated_at, resolved_at, first_agent_reply_at) '
                   'ON support.conversations TO %s', r);
    -- workspace_id is granted so that a move attempt meets the trigger's clear
    -- 0A000 error rather than a bare permission error; it never changes.
    EXECUTE format('GRANT UPDATE (workspace_id, bot_user_id, channel, subject) ON support.conversations TO %s', r);

    -- Messages: append, edit the text, delete; ids and timestamps are the database's.
    EXECUTE format('GRANT SELECT, DELETE ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT INSERT (workspace_id, conversation_id, role, author_id, content) ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT UPDATE (content) ON support.conversation_messages TO %s', r);

    -- The audit trails: read-only.
    EXECUTE format('GRANT SELECT ON support.conversation_events, support.member_events TO %s', r);

    -- The public functions (policies call the identity and membership helpers
    -- as the querying role, so those are needed too).
    EXECUTE format('GRANT EXECUTE ON FUNCTION support.current_user_id(), support.member_workspaces(), '
                   'support.workspace_member(uuid), support.workspace_role(uuid), '
                   'support.check_new_message(uuid, uuid, text), '
                   'support.escalate_conversation(uuid, text), support.claim_conversation(uuid), '
                   'support.claim_next_conversation(uuid), support.release_conversation(uuid), '
                   'support.transfer_conversation(uuid, uuid), support.resolve_conversation(uuid), '
                   'support.reopen_conversation(uuid), support.authenticate(text), '
                   'support.add_member(uuid, uuid, text), support.set_member_role(uuid, uuid, text), '
                   'support.remove_member(uuid, uuid) TO %s', r);
END
$$;
COMMENT ON FUNCTION support.grant_usage(pg_catalog.regrole) IS
    'Gives an application role exactly what its end users need (revoking anything else it had on support objects): schema usage, column-level table privileges (RLS applies), and EXECUTE on the public functions. Idempotent; upgrades re-apply it.';

-- Catalog documentation of the Rust functions (\df+ support.*).
COMMENT ON FUNCTION support.current_user_id() IS
    'The calling end user: sub of request.jwt.claims, else request.jwt.claim.sub, else support.user_id; the first source that is set decides. NULL = nobody; a non-UUID subject is an error (22P02).';
COMMENT ON FUNCTION support.member_workspaces() IS
    'Ids of the workspaces the current user belongs to (empty for nobody). Used by every policy as workspace_id = ANY ((SELECT support.member_workspaces())::uuid[]).';
COMMENT ON FUNCTION support.workspace_member(uuid) IS
    'True iff the current user is a member of the workspace (presence only; role is not consulted).';
COMMENT ON FUNCTION support.workspace_role(uuid) IS
    'The current user''s effective role in the workspace: owner | admin | agent | viewer, or bot for a user of kind bot (a bot with role viewer is a viewer); NULL when not a member.';
COMMENT ON FUNCTION support.check_new_message(uuid, uuid, text) IS
    'Internal (conversation_messages trigger, runs as the application role): the author_id to store for a message the current user posts (the caller), or 42501 when the caller''s role may not post that message role or names another author.';
COMMENT ON FUNCTION support.claim_conversation(uuid) IS
    'The current user takes over an escalated conversation of one of their workspaces (atomic; exactly one of racing agents wins). Errors: 28000 no identity, P0002 not found, 55006 claimed by another agent, 55000 not escalated, 42501 viewer or bot.';

COMMENT ON FUNCTION support.escalate_conversation(uuid, text) IS
    'Bot hands off: active -> escalated, escalated_at = now() (the wait clock); reason goes to the audit trail.';
COMMENT ON FUNCTION support.claim_next_conversation(uuid) IS
    'Claims the oldest escalated conversation of the workspace (FOR UPDATE SKIP LOCKED); NULL when the queue is empty. Needs a human agent, admin or owner.';
COMMENT ON FUNCTION support.release_conversation(uuid) IS
    'Puts a claimed conversation back in the queue (claimed -> escalated, original wait time kept): its owner, or an admin or owner of the workspace.';
COMMENT ON FUNCTION support.transfer_conversation(uuid, uuid) IS
    'Hands a claimed conversation to another human agent, admin or owner of the same workspace: its owner, or an admin or owner of the workspace.';
COMMENT ON FUNCTION support.resolve_conversation(uuid) IS
    'claimed or active -> resolved, resolved_at = now(). A claimed one: its owner, or an admin or owner of the workspace; an active one: any agent or bot.';
COMMENT ON FUNCTION support.reopen_conversation(uuid) IS
    'resolved -> escalated: new wait clock, resolved_at cleared, reopen_count + 1.';
COMMENT ON FUNCTION support.lifecycle_pending(uuid) IS
    'Internal (audit trigger): kind and reason of the lifecycle function changing that conversation right now. Not granted to application roles.';

COMMENT ON FUNCTION support.authenticate(text) IS
    'Verifies a JWT (HS256/384/512, EdDSA, ES256) against support.jwt_keys (signature, kid, exp, nbf, aud/iss when configured) and makes its sub the current user for the current transaction only. 28000 "invalid token" on any failure (the reason goes to the server log).';
COMMENT ON FUNCTION support.require_user_id() IS
    'Internal (membership functions): the calling end user, or 28000 naming an identity setting ignored because an earlier transaction left it.';
COMMENT ON FUNCTION support.restoring() IS
    'Internal (triggers): true while a role that bypasses row-level security runs with row_security = off (pg_dump scripts, pg_restore): rows are taken as given and no events are written.';
COMMENT ON FUNCTION support.check_jwt_key(text, text, text) IS
    'Internal (jwt_keys trigger): raises 22023 for an HMAC secret shorter than 32/48/64 bytes (HS256/384/512) or a public key that does not parse.';

-- PostgreSQL grants EXECUTE to PUBLIC on every new function: take it back.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA support FROM PUBLIC;
