-- conversations_ext: the catalog comments of the public functions (\df+ support.*).
-- GENERATED from docs/api.md by scripts/catalog_comments.py: edit the paragraph there,
-- then run scripts/catalog_comments.py --write. pg_test/tests/docs_sources.rs checks it.

COMMENT ON FUNCTION support.current_user_id() IS
    'The end user of the current transaction, or NULL for nobody. A token verified by support.authenticate() in this transaction comes first; in support.identity_mode = claims the first of request.jwt.claims (its sub), request.jwt.claim.sub and support.user_id that this transaction set decides. A value left from an earlier transaction or a session-level SET is ignored. A subject that is not a UUID, or claims that are not JSON, raise 22P02.';
COMMENT ON FUNCTION support.member_workspaces() IS
    'Ids of the workspaces the current user belongs to, whatever the role, in uuid order (an empty array for nobody).';
COMMENT ON FUNCTION support.workspace_member(uuid) IS
    'True when the current user is a member of the workspace, whatever the role; false otherwise, also for a workspace that does not exist and for nobody. Every row-level security policy is support.workspace_member(workspace_id); in a query PostgreSQL resolves the identity and the membership set once per statement and checks each row with a hash probe (docs/performance.md).';
COMMENT ON FUNCTION support.workspace_role(uuid) IS
    'The current user''s effective role in the workspace: owner, admin, agent or viewer, or bot for a user of kind bot whose role is not viewer (a bot with role viewer is a viewer). NULL when the current user is not a member. The role decides every write (docs/permissions.md).';
COMMENT ON FUNCTION support.authenticate(text) IS
    'Verifies a JWT against support.jwt_keys and makes its sub the current user until the end of the current transaction (also undone when the savepoint it was called in is rolled back). The key named by the token''s kid (without kid: the only active key of the token''s algorithm) decides the algorithm: HS256, HS384, HS512, EdDSA (Ed25519) or ES256. Checks the signature, exp (required), nbf, aud and iss when the key row sets them (30 s leeway), and that sub is a UUID. Any refusal raises 28000 with the message invalid token; the reason goes to the server log only.';
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
    'The newest conversations across all the workspaces the current user belongs to, newest first (created_at, then id), at most max_rows (1 to 1000, default 50). For a member of more than max_rows workspaces it reads the newest conversation of each first and keeps the max_rows workspaces whose newest is newest; then the newest keys of those, and the rows of the winners only: exact, and fast for a member of thousands of workspaces. Row-level security applies as to the caller''s own query.';
COMMENT ON FUNCTION support.grant_usage(regrole) IS
    'Gives an application role exactly what its end users need, revoking anything else it had on support objects: USAGE on the schema, column-level privileges on the tables (row-level security applies), and EXECUTE on the public functions. Idempotent; ALTER EXTENSION UPDATE re-applies it to every role that had it. For the DBA (superuser or extension owner).';
