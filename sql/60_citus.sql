-- conversations_ext on a Citus cluster (docs/scale-out.md).
--
-- The same install script runs on every node: Citus propagates CREATE
-- EXTENSION from the coordinator to the workers, so each node has its own
-- support.* tables. support.distribute(), run once on the coordinator, turns
-- them into the layout below; the workers' own copies become the "shell"
-- tables through which Citus routes queries there. On a server without Citus
-- nothing in this file changes anything: support.distributed() is false,
-- support.acts_here() true, and the trigger below does nothing.
--
-- The layout. Reference tables (a full copy on every node): small, read by
-- every policy and every write check. Distributed by workspace_id, colocated
-- with support.conversations (every row of a workspace on one shard group):
-- the conversations and everything that grows with them. Node-local (never
-- distributed): support.membership_versions, each node's record of its own
-- copy of the memberships (what that node's membership cache re-validates
-- against; the *_version triggers of the reference tables write it on every
-- node), and support.jwt_keys, read by support.authenticate() where the
-- application calls it (the coordinator).
CREATE FUNCTION support.citus_layout()
RETURNS TABLE (relation pg_catalog.regclass, citus_table_type text)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('support.users'::pg_catalog.regclass, 'reference'),
           ('support.workspaces', 'reference'),
           ('support.workspace_members', 'reference'),
           ('support.staff', 'reference'),
           ('support.staff_workspaces', 'reference'),
           ('support.conversations', 'distributed'),
           ('support.conversation_counters', 'distributed'),
           ('support.conversation_messages', 'distributed'),
           ('support.conversation_reads', 'distributed'),
           ('support.conversation_events', 'distributed'),
           ('support.member_events', 'distributed')
$$;
COMMENT ON FUNCTION support.citus_layout() IS
    'The Citus layout support.distribute() builds: reference tables and tables distributed by workspace_id (colocated with support.conversations). Tables not listed stay local to each node.';

-- Whether this database's support.conversations is distributed by Citus.
CREATE FUNCTION support.distributed() RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    found boolean;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition AS p
                              WHERE p.logicalrelid OPERATOR(pg_catalog.=) ''support.conversations''::pg_catalog.regclass)'
       INTO found;
    RETURN found;
END
$$;
COMMENT ON FUNCTION support.distributed() IS
    'Internal: true when support.conversations is a Citus distributed table (support.distribute() ran).';

-- A change to a reference table (workspace_members) is applied to its copy on
-- every node, and its row triggers fire on every node. What the change does to
-- the workspace's distributed rows (its audit event in member_events, the
-- claims it unassigns) must happen once: on the node that holds the
-- workspace's shard group. Elsewhere the distributed write would cross nodes
-- from inside a shard, which Citus refuses, and would be duplicated if it did
-- not. Without Citus: always true.
CREATE FUNCTION support.acts_here(workspace_id uuid) RETURNS boolean
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    here boolean;
BEGIN
    IF NOT support.distributed() THEN
        RETURN true;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_placement AS p
                              WHERE p.shardid OPERATOR(pg_catalog.=) pg_catalog.get_shard_id_for_distribution_column(
                                        ''support.member_events''::pg_catalog.regclass, $1)
                                AND p.groupid OPERATOR(pg_catalog.=) (SELECT g.groupid FROM pg_catalog.pg_dist_local_group AS g))'
       INTO here USING workspace_id;
    RETURN here;
END
$$;
COMMENT ON FUNCTION support.acts_here(uuid) IS
    'Internal (workspace_members triggers): true where a membership change of that workspace has its effect on distributed tables: always without Citus; on Citus, only on the node holding the workspace''s shard group.';

-- workspace_members, BEFORE DELETE, on Citus only. Without Citus the foreign
-- keys from conversations (bot_user_id, claimed_by) and conversation_messages
-- (author_id) to workspace_members clear those columns themselves (ON DELETE
-- SET NULL). Citus refuses SET NULL actions on a foreign key that includes the
-- distribution column, so support.distribute() re-creates those three as
-- plain (NO ACTION) keys and this trigger clears the columns instead, on the
-- node holding the workspace's rows, before the key is checked. The effect is
-- the same: a removed owner's claims go back to the queue ('unassigned'
-- events, support.conversations_before_update), authorship is kept as NULL.
CREATE FUNCTION support.workspace_members_before_delete() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF support.distributed() AND support.acts_here(OLD.workspace_id) THEN
        UPDATE support.conversations AS c SET claimed_by = NULL
         WHERE c.workspace_id OPERATOR(pg_catalog.=) OLD.workspace_id
           AND c.claimed_by OPERATOR(pg_catalog.=) OLD.user_id;
        UPDATE support.conversations AS c SET bot_user_id = NULL
         WHERE c.workspace_id OPERATOR(pg_catalog.=) OLD.workspace_id
           AND c.bot_user_id OPERATOR(pg_catalog.=) OLD.user_id;
        UPDATE support.conversation_messages AS m SET author_id = NULL
         WHERE m.workspace_id OPERATOR(pg_catalog.=) OLD.workspace_id
           AND m.author_id OPERATOR(pg_catalog.=) OLD.user_id;
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION support.workspace_members_before_delete() IS
    'Trigger (Citus only): clears bot_user_id, claimed_by and author_id that refer to a membership being removed, as the single-node ON DELETE SET NULL foreign keys do.';

CREATE TRIGGER workspace_members_before_delete
    BEFORE DELETE ON support.workspace_members
    FOR EACH ROW EXECUTE FUNCTION support.workspace_members_before_delete();

-- Runs a command on every Citus worker (each in its own transaction, as
-- run_command_on_workers does); raises the first worker's error (58000).
CREATE FUNCTION support.on_workers(command text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    failed record;
BEGIN
    FOR failed IN
        EXECUTE 'SELECT w.nodename, w.nodeport, w.result FROM pg_catalog.run_command_on_workers($1) AS w
                  WHERE NOT w.success'
        USING command
    LOOP
        RAISE EXCEPTION 'on worker %:%: %', failed.nodename, failed.nodeport, failed.result
            USING ERRCODE = '58000', DETAIL = command;
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION support.on_workers(text) FROM PUBLIC;
COMMENT ON FUNCTION support.on_workers(text) IS
    'Internal (support.distribute, support.grant_usage): runs a command on every Citus worker; raises the first failure.';

-- The extension's foreign keys as support.distribute() re-creates them on
-- distributed tables (sql/00_schema.sql has them for one server): the same
-- names and columns; the three ON DELETE SET NULL (column) keys become plain
-- keys, which Citus accepts, and support.workspace_members_before_delete
-- clears those columns instead.
CREATE FUNCTION support.citus_foreign_keys()
RETURNS TABLE (rel pg_catalog.regclass, name text, definition text)
LANGUAGE sql
IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('support.workspace_members'::pg_catalog.regclass, 'workspace_members_workspace_fkey',
            'FOREIGN KEY (workspace_id) REFERENCES support.workspaces (id) ON DELETE CASCADE'),
           ('support.workspace_members', 'workspace_members_user_fkey',
            'FOREIGN KEY (user_id) REFERENCES support.users (id) ON DELETE CASCADE'),
           ('support.staff', 'staff_user_fkey',
            'FOREIGN KEY (user_id) REFERENCES support.users (id) ON DELETE CASCADE'),
           ('support.staff_workspaces', 'staff_workspaces_workspace_fkey',
            'FOREIGN KEY (workspace_id) REFERENCES support.workspaces (id) ON DELETE CASCADE'),
           ('support.staff_workspaces', 'staff_workspaces_staff_fkey',
            'FOREIGN KEY (user_id) REFERENCES support.staff (user_id) ON DELETE CASCADE'),
           ('support.conversations', 'conversations_workspace_fkey',
            'FOREIGN KEY (workspace_id) REFERENCES support.workspaces (id)'),
           ('support.conversations', 'conversations_bot_member_fkey',
            'FOREIGN KEY (workspace_id, bot_user_id) REFERENCES support.workspace_members (workspace_id, user_id)'),
           ('support.conversations', 'conversations_owner_member_fkey',
            'FOREIGN KEY (workspace_id, claimed_by) REFERENCES support.workspace_members (workspace_id, user_id)'),
           ('support.conversation_counters', 'conversation_counters_workspace_fkey',
            'FOREIGN KEY (workspace_id) REFERENCES support.workspaces (id) ON DELETE CASCADE'),
           ('support.conversation_messages', 'conversation_messages_conversation_fkey',
            'FOREIGN KEY (workspace_id, conversation_id) REFERENCES support.conversations (workspace_id, id) ON DELETE CASCADE'),
           ('support.conversation_reads', 'conversation_reads_conversation_fkey',
            'FOREIGN KEY (workspace_id, conversation_id) REFERENCES support.conversations (workspace_id, id) ON DELETE CASCADE'),
           ('support.conversation_reads', 'conversation_reads_user_fkey',
            'FOREIGN KEY (user_id) REFERENCES support.users (id) ON DELETE CASCADE'),
           ('support.conversation_messages', 'conversation_messages_author_member_fkey',
            'FOREIGN KEY (workspace_id, author_id) REFERENCES support.workspace_members (workspace_id, user_id)')
$$;
COMMENT ON FUNCTION support.citus_foreign_keys() IS
    'Internal (support.distribute): the extension''s foreign keys as they are re-created on distributed tables.';

-- support.distribute(shard_count): on a Citus coordinator, distributes the
-- installed extension's tables into support.citus_layout(). Idempotent: a
-- second call changes nothing and returns the same layout. Refuses on a server
-- without Citus (0A000) and on a Citus worker (55000). Superuser only (it
-- alters the extension's tables and every node's copy of them).
--
-- Why the foreign keys are dropped and re-created: with any foreign key among
-- them, Citus first turns the connected tables into "Citus local tables" and
-- then cannot turn those into reference or distributed tables (the workers'
-- copies, which belong to the extension, are in the way). So the extension's
-- keys (support.citus_foreign_keys(); a DBA's own are left alone) are dropped
-- on every node, the tables are distributed, and the keys are added back
-- through Citus, which puts them on every shard.
CREATE FUNCTION support.distribute(shard_count integer DEFAULT 32)
RETURNS TABLE (relation pg_catalog.regclass, citus_table_type text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET citus.enable_unsafe_triggers = on
SET citus.multi_shard_modify_mode = 'sequential'
SET citus.propagate_set_commands = 'local'
SET row_security = off
AS $$
DECLARE
    fk record;
    t record;
    grantee pg_catalog.regrole;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NULL THEN
        RAISE EXCEPTION 'support.distribute() needs the citus extension in this database'
            USING ERRCODE = '0A000',
                  HINT = 'On a Citus coordinator run CREATE EXTENSION citus before CREATE EXTENSION conversations_ext; see docs/scale-out.md.';
    END IF;
    EXECUTE 'SELECT pg_catalog.citus_is_coordinator()' INTO STRICT t;
    IF NOT t.citus_is_coordinator THEN
        RAISE EXCEPTION 'support.distribute() runs on the Citus coordinator, not on a worker'
            USING ERRCODE = '55000';
    END IF;
    IF shard_count IS NULL OR shard_count < 1 THEN
        RAISE EXCEPTION 'shard_count must be a positive number, not %', shard_count
            USING ERRCODE = '22023';
    END IF;

    IF NOT support.distributed() THEN
        -- 0. Restore mode on every node for the rest of this call
        -- (support.restoring()): Citus copies the rows already in the tables
        -- into the shards, and the triggers that fire there must take them
        -- as they are, as from pg_restore, not record them again.
        SET LOCAL row_security = off;

        -- 1. The extension's foreign keys, on every node.
        FOR fk IN SELECT k.rel, k.name FROM support.citus_foreign_keys() AS k LOOP
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_constraint AS c
                        WHERE c.conrelid OPERATOR(pg_catalog.=) fk.rel
                          AND c.conname OPERATOR(pg_catalog.=) fk.name) THEN
                EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel, fk.name);
            END IF;
            PERFORM support.on_workers(
                pg_catalog.format('ALTER TABLE IF EXISTS %s DROP CONSTRAINT IF EXISTS %I', fk.rel, fk.name));
        END LOOP;

        -- 2. The layout.
        FOR t IN SELECT l.relation, l.citus_table_type FROM support.citus_layout() AS l LOOP
            IF t.citus_table_type OPERATOR(pg_catalog.=) 'reference' THEN
                PERFORM pg_catalog.create_reference_table(t.relation);
            ELSIF t.relation OPERATOR(pg_catalog.=) 'support.conversations'::pg_catalog.regclass THEN
                PERFORM pg_catalog.create_distributed_table(t.relation, 'workspace_id',
                                                            shard_count => distribute.shard_count);
            ELSE
                PERFORM pg_catalog.create_distributed_table(t.relation, 'workspace_id',
                                                            colocate_with => 'support.conversations');
            END IF;
        END LOOP;

        -- The rows copied into the shards stay, hidden, in the coordinator's
        -- own tables: free that space.
        FOR t IN SELECT l.relation FROM support.citus_layout() AS l LOOP
            PERFORM pg_catalog.truncate_local_data_after_distributing_table(t.relation);
        END LOOP;

        -- 3. The foreign keys again, through Citus.
        FOR fk IN SELECT k.rel, k.name, k.definition FROM support.citus_foreign_keys() AS k LOOP
            EXECUTE pg_catalog.format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.rel, fk.name, fk.definition);
        END LOOP;
    END IF;

    -- 4. Application roles given support.grant_usage() before: their
    -- privileges on every node (the workers' functions too).
    FOR grantee IN
        SELECT DISTINCT a.grantee::pg_catalog.regrole
          FROM pg_catalog.pg_namespace AS n,
               pg_catalog.aclexplode(n.nspacl) AS a
         WHERE n.nspname OPERATOR(pg_catalog.=) 'support'
           AND a.privilege_type OPERATOR(pg_catalog.=) 'USAGE'
           AND a.grantee OPERATOR(pg_catalog.<>) n.nspowner
           AND a.grantee OPERATOR(pg_catalog.<>) 0
         ORDER BY 1
    LOOP
        PERFORM support.grant_usage(grantee);
    END LOOP;

    RETURN QUERY
        SELECT l.relation, l.citus_table_type FROM support.citus_layout() AS l;
END
$$;
REVOKE ALL ON FUNCTION support.distribute(integer) FROM PUBLIC;
