-- conversations_ext: membership management from the application.
--
-- support.add_member / set_member_role / remove_member let a workspace's owners
-- and admins manage its members without the DBA (the rules: docs/permissions.tsv,
-- rows members.*):
--   * only an owner or admin of the workspace calls them (42501; a caller who is
--     not a member gets "workspace ... not found", P0002, as for a workspace
--     that does not exist);
--   * only an owner grants, changes or removes the owner role (42501);
--   * the last owner can be neither removed nor demoted (55000);
--   * every change is an event in support.member_events, and a member demoted to
--     viewer or removed gives up their claims (back to escalated, 'unassigned'
--     events) — both done by triggers, so the DBA's direct statements do the same.
-- Each call locks the workspace row first, so concurrent changes to one
-- workspace's members are serialised (two owners demoting each other cannot
-- leave the workspace without an owner).

-- The caller's right to manage the members of a workspace; locks the workspace.
CREATE FUNCTION support.require_member_manager(workspace_id uuid, touches_owner boolean) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller_role text;
BEGIN
    PERFORM support.require_user_id();  -- 28000 without an end user
    PERFORM 1 FROM support.workspaces AS w
     WHERE w.id OPERATOR(pg_catalog.=) require_member_manager.workspace_id
       FOR NO KEY UPDATE;
    caller_role := support.workspace_role(require_member_manager.workspace_id);
    IF caller_role IS NULL THEN
        RAISE EXCEPTION 'workspace % not found', require_member_manager.workspace_id
            USING ERRCODE = 'P0002';
    END IF;
    IF caller_role NOT IN ('owner', 'admin') THEN
        RAISE EXCEPTION 'workspace role % cannot manage members', caller_role
            USING ERRCODE = '42501',
                  HINT = 'Only an owner or admin of the workspace adds, changes or removes members.';
    END IF;
    IF touches_owner AND caller_role OPERATOR(pg_catalog.<>) 'owner' THEN
        RAISE EXCEPTION 'only an owner grants, changes or removes the owner role'
            USING ERRCODE = '42501';
    END IF;
    RETURN caller_role;
END
$$;
COMMENT ON FUNCTION support.require_member_manager(uuid, boolean) IS
    'Internal: raises unless the current user may manage the workspace''s members (owner or admin; owner when the owner role is involved); locks the workspace row.';

-- The role of a member, locked; P0002 when the user is not a member.
CREATE FUNCTION support.locked_member_role(workspace_id uuid, user_id uuid) RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found_role text;
BEGIN
    SELECT m.role INTO found_role
      FROM support.workspace_members AS m
     WHERE m.workspace_id OPERATOR(pg_catalog.=) locked_member_role.workspace_id
       AND m.user_id OPERATOR(pg_catalog.=) locked_member_role.user_id
       FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % is not a member of workspace %', locked_member_role.user_id, locked_member_role.workspace_id
            USING ERRCODE = 'P0002';
    END IF;
    RETURN found_role;
END
$$;
COMMENT ON FUNCTION support.locked_member_role(uuid, uuid) IS
    'Internal: the role of a member, with the membership row locked; P0002 when not a member.';

-- Locks the conversations a member holds in a workspace (before the
-- membership row: the order a claim takes its locks in).
CREATE FUNCTION support.lock_claims_of(workspace_id uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM 1
       FROM support.conversations AS c
      WHERE c.workspace_id OPERATOR(pg_catalog.=) lock_claims_of.workspace_id
        AND c.claimed_by OPERATOR(pg_catalog.=) lock_claims_of.user_id
        FOR UPDATE;
END
$$;
COMMENT ON FUNCTION support.lock_claims_of(uuid, uuid) IS
    'Internal: locks the conversations a member holds in a workspace, before the membership row is locked (no deadlock with a claim).';

-- 55000 when the workspace would be left without an owner.
CREATE FUNCTION support.require_another_owner(workspace_id uuid, user_id uuid) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM support.workspace_members AS m
                    WHERE m.workspace_id OPERATOR(pg_catalog.=) require_another_owner.workspace_id
                      AND m.user_id OPERATOR(pg_catalog.<>) require_another_owner.user_id
                      AND m.role OPERATOR(pg_catalog.=) 'owner') THEN
        RAISE EXCEPTION 'user % is the last owner of workspace %', require_another_owner.user_id, require_another_owner.workspace_id
            USING ERRCODE = '55000',
                  HINT = 'Make another member owner first.';
    END IF;
END
$$;
COMMENT ON FUNCTION support.require_another_owner(uuid, uuid) IS
    'Internal: raises 55000 when the user is the last owner of the workspace.';

CREATE FUNCTION support.add_member(workspace_id uuid, user_id uuid, role text DEFAULT 'agent')
RETURNS support.workspace_members
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    added support.workspace_members;
BEGIN
    PERFORM support.require_member_manager(add_member.workspace_id, add_member.role OPERATOR(pg_catalog.=) 'owner');
    INSERT INTO support.workspace_members AS m (workspace_id, user_id, role)
    VALUES (add_member.workspace_id, add_member.user_id, add_member.role)
    RETURNING m.* INTO added;
    RETURN added;
END
$$;

CREATE FUNCTION support.set_member_role(workspace_id uuid, user_id uuid, role text)
RETURNS support.workspace_members
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    current_role_of_member text;
    changed support.workspace_members;
BEGIN
    -- Whether the owner role is involved depends on the member's current role:
    -- check the caller's right first with what the call asks, then again once
    -- the member's row is locked.
    PERFORM support.require_member_manager(set_member_role.workspace_id, set_member_role.role OPERATOR(pg_catalog.=) 'owner');
    -- Lock order: the member's conversations, then the membership row (the
    -- order a claim takes them in), so a demotion and a claim never deadlock.
    PERFORM support.lock_claims_of(set_member_role.workspace_id, set_member_role.user_id);
    current_role_of_member := support.locked_member_role(set_member_role.workspace_id, set_member_role.user_id);
    IF current_role_of_member OPERATOR(pg_catalog.=) 'owner' THEN
        PERFORM support.require_member_manager(set_member_role.workspace_id, true);
        IF set_member_role.role IS DISTINCT FROM 'owner' THEN
            PERFORM support.require_another_owner(set_member_role.workspace_id, set_member_role.user_id);
        END IF;
    END IF;
    UPDATE support.workspace_members AS m
       SET role = set_member_role.role
     WHERE m.workspace_id OPERATOR(pg_catalog.=) set_member_role.workspace_id
       AND m.user_id OPERATOR(pg_catalog.=) set_member_role.user_id
    RETURNING m.* INTO changed;
    RETURN changed;
END
$$;

CREATE FUNCTION support.remove_member(workspace_id uuid, user_id uuid)
RETURNS support.workspace_members
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    current_role_of_member text;
    removed support.workspace_members;
BEGIN
    PERFORM support.require_member_manager(remove_member.workspace_id, false);
    PERFORM support.lock_claims_of(remove_member.workspace_id, remove_member.user_id);
    current_role_of_member := support.locked_member_role(remove_member.workspace_id, remove_member.user_id);
    IF current_role_of_member OPERATOR(pg_catalog.=) 'owner' THEN
        PERFORM support.require_member_manager(remove_member.workspace_id, true);
        PERFORM support.require_another_owner(remove_member.workspace_id, remove_member.user_id);
    END IF;
    DELETE FROM support.workspace_members AS m
     WHERE m.workspace_id OPERATOR(pg_catalog.=) remove_member.workspace_id
       AND m.user_id OPERATOR(pg_catalog.=) remove_member.user_id
    RETURNING m.* INTO removed;
    RETURN removed;
END
$$;

-- Support staff (docs/permissions.md#support-staff). A staff user reads every
-- workspace they serve without membership and acts there as a viewer; to
-- claim or reply they join it, with their staff role. The membership is
-- audited like any other (member_events 'added', actor = the staff user)
-- and marked joined_as_staff.
CREATE FUNCTION support.join_as_staff(workspace_id uuid)
RETURNS support.workspace_members
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := support.require_user_id();   -- 28000 without an end user
    staff_role text;
    joined support.workspace_members;
BEGIN
    -- A concurrent refusal (set_staff_access) waits for this join, or this
    -- join for it: the workspace row is the lock both take.
    PERFORM 1 FROM support.workspaces AS w
     WHERE w.id OPERATOR(pg_catalog.=) join_as_staff.workspace_id
       FOR SHARE;
    SELECT s.role INTO staff_role
      FROM support.staff AS s
      JOIN support.workspaces AS w
        ON w.id OPERATOR(pg_catalog.=) join_as_staff.workspace_id AND w.staff_access
     WHERE s.user_id OPERATOR(pg_catalog.=) me
       AND (s.all_workspaces
            OR EXISTS (SELECT 1 FROM support.staff_workspaces AS sw
                        WHERE sw.workspace_id OPERATOR(pg_catalog.=) join_as_staff.workspace_id
                          AND sw.user_id OPERATOR(pg_catalog.=) me));
    IF staff_role IS NULL THEN
        -- Not staff, or not serving this workspace: the same answer as for a
        -- workspace that does not exist.
        RAISE EXCEPTION 'workspace % not found', join_as_staff.workspace_id
            USING ERRCODE = 'P0002';
    END IF;
    INSERT INTO support.workspace_members AS m (workspace_id, user_id, role, joined_as_staff)
    VALUES (join_as_staff.workspace_id, me, staff_role, true)
    ON CONFLICT ON CONSTRAINT workspace_members_pkey DO NOTHING
    RETURNING m.* INTO joined;
    IF joined.user_id IS NULL THEN
        -- Already a member: the membership stays as it is.
        SELECT m.* INTO joined FROM support.workspace_members AS m
         WHERE m.workspace_id OPERATOR(pg_catalog.=) join_as_staff.workspace_id
           AND m.user_id OPERATOR(pg_catalog.=) me;
    END IF;
    RETURN joined;
END
$$;

-- The workspace's owner allows or refuses support staff. Refusing removes
-- the members who joined as staff (their claims return to the queue) and ends
-- staff reads of the workspace at the next statement. Audited in
-- member_events ('staff_allowed' / 'staff_refused', user and actor the owner).
CREATE FUNCTION support.set_staff_access(workspace_id uuid, allowed boolean)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    me uuid := support.require_user_id();   -- 28000 without an end user
    was boolean;
    caller_role text;
BEGIN
    IF allowed IS NULL THEN
        RAISE EXCEPTION 'allowed must be true or false, not NULL' USING ERRCODE = '22004';
    END IF;
    SELECT w.staff_access INTO was FROM support.workspaces AS w
     WHERE w.id OPERATOR(pg_catalog.=) set_staff_access.workspace_id
       FOR NO KEY UPDATE;
    caller_role := support.workspace_role(set_staff_access.workspace_id);
    IF was IS NULL OR caller_role IS NULL THEN
        RAISE EXCEPTION 'workspace % not found', set_staff_access.workspace_id
            USING ERRCODE = 'P0002';
    END IF;
    IF caller_role OPERATOR(pg_catalog.<>) 'owner' THEN
        RAISE EXCEPTION 'workspace role % cannot change staff access', caller_role
            USING ERRCODE = '42501',
                  HINT = 'Only an owner of the workspace allows or refuses support staff.';
    END IF;
    IF was IS DISTINCT FROM allowed THEN
        UPDATE support.workspaces AS w SET staff_access = allowed
         WHERE w.id OPERATOR(pg_catalog.=) set_staff_access.workspace_id;
        INSERT INTO support.member_events (workspace_id, user_id, actor_id, kind)
        VALUES (set_staff_access.workspace_id, me, me,
                CASE WHEN allowed THEN 'staff_allowed' ELSE 'staff_refused' END);
        IF NOT allowed THEN
            DELETE FROM support.workspace_members AS m
             WHERE m.workspace_id OPERATOR(pg_catalog.=) set_staff_access.workspace_id
               AND m.joined_as_staff
               AND m.role OPERATOR(pg_catalog.<>) 'owner';
        END IF;
    END IF;
    RETURN allowed;
END
$$;
