-- conversations_ext: privileges, last of the install script (once every
-- function exists). The extension creates no roles and grants nothing to
-- PUBLIC: a DBA gives an application role what it needs with
-- support.grant_usage(role) (sql/85_grant_usage.sql).

-- Catalog documentation of the internal Rust functions (\df+ support.*). The
-- public functions' comments are sql/95_comments.sql, generated from docs/api.md.
COMMENT ON FUNCTION support.check_new_message(uuid, uuid, text) IS
    'Internal (conversation_messages trigger, runs as the application role): the author_id to store for a message the current user posts (the caller), or 42501 when the caller''s role may not post that message role or names another author.';

COMMENT ON FUNCTION support.lifecycle_pending(uuid) IS
    'Internal (audit trigger): kind, reason and (on Citus) acting user of the lifecycle function changing that conversation right now; taken once. Not granted to application roles.';
COMMENT ON FUNCTION support.lifecycle_mark(uuid, text, text, uuid) IS
    'Internal (lifecycle functions on Citus): a RETURNING column of their UPDATE that records, on the node holding the row, what support.lifecycle_pending() then tells the audit trigger. Not granted to application roles.';

COMMENT ON FUNCTION support.require_user_id() IS
    'Internal (membership functions): the calling end user, or 28000 naming an identity setting ignored because an earlier transaction left it.';
COMMENT ON FUNCTION support.unassign_claims(uuid, uuid) IS
    'Internal (workspace_members trigger): returns the conversations a member holds in a workspace to the queue, against the latest snapshot (40001 under REPEATABLE READ when a claim it could not see committed).';
COMMENT ON FUNCTION support.restoring() IS
    'Internal (triggers): true while a role that bypasses row-level security runs with row_security = off (pg_dump scripts, pg_restore): rows are taken as given and no events are written.';
COMMENT ON FUNCTION support.bypasses_row_security() IS
    'Internal (numbering trigger): true when the outer role bypasses row-level security on the support tables (superuser, BYPASSRLS, a member of their owner): the DBA''s own writes, not an application role''s.';
COMMENT ON FUNCTION support.check_jwt_key(text, text, text) IS
    'Internal (jwt_keys trigger): raises 22023 for an HMAC secret shorter than 32/48/64 bytes (HS256/384/512) or a public key that does not parse.';

COMMENT ON FUNCTION support.random_secret() IS
    'Internal (notification secret): 32 bytes from the operating system''s random source.';
COMMENT ON FUNCTION support.notification_secret_changed() IS
    'Internal (trigger of support.notification_secret): a relcache invalidation of the table, so that every backend forgets the secret it cached.';
COMMENT ON FUNCTION support.notification_channel_of(uuid) IS
    'Internal (notification triggers, as the owner): the channel of a workspace, without any membership check. Never granted to application roles.';

COMMENT ON FUNCTION support.workspace_member_support(internal) IS
    'Internal (planner support of support.workspace_member): offers the index condition workspace_id = ANY (support.member_workspaces()) where the query does not already pin workspace_id, and that condition''s selectivity.';
COMMENT ON FUNCTION support.shares_workspace(uuid) IS
    'Internal (policy of support.users, runs as the application role): is the user the caller, or a member of one of the caller''s workspaces?';

-- PostgreSQL grants EXECUTE to PUBLIC on every new function: take it back.
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA support FROM PUBLIC;
