-- conversations_ext: support.grant_usage(role), what a DBA runs for each
-- application role (docs/api.md, docs/operations.md). Exact, not additive, and
-- re-applied by every upgrade to the roles that had it.

CREATE FUNCTION support.grant_usage(app_role pg_catalog.regrole) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r text := app_role::text;   -- regrole output is already a quoted identifier
    functions text;
    insertable pg_catalog.regclass;
    defaulted text;
    propagation text;
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

    -- Conversations: ids, numbers, lifecycle columns and timestamps are the
    -- database's. The lifecycle columns and number are granted for INSERT only
    -- so that an ORM may send them as NULL; the insert triggers refuse any
    -- other value, naming the column.
    EXECUTE format('GRANT SELECT, DELETE ON support.conversations TO %s', r);
    EXECUTE format('GRANT INSERT (workspace_id, bot_user_id, channel, status, subject, '
                   'claimed_by, claimed_at, escalated_at, resolved_at, first_agent_reply_at, number) '
                   'ON support.conversations TO %s', r);
    -- workspace_id is granted so that a move attempt meets the trigger's clear
    -- 0A000 error rather than a bare permission error; it never changes.
    EXECUTE format('GRANT UPDATE (workspace_id, bot_user_id, channel, subject) ON support.conversations TO %s', r);

    -- Messages: append, edit the text, delete; ids and timestamps are the database's.
    EXECUTE format('GRANT SELECT, DELETE ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT INSERT (workspace_id, conversation_id, role, author_id, content) ON support.conversation_messages TO %s', r);
    EXECUTE format('GRANT UPDATE (content) ON support.conversation_messages TO %s', r);

    -- Read positions: read-only (support.mark_read moves the caller's own).
    EXECUTE format('GRANT SELECT ON support.conversation_reads TO %s', r);

    -- The audit trails: read-only.
    EXECUTE format('GRANT SELECT ON support.conversation_events, support.member_events TO %s', r);

    -- The public functions (policies call the identity and membership helpers
    -- as the querying role, so those are needed too).
    functions := format('GRANT EXECUTE ON FUNCTION support.current_user_id(), support.member_workspaces(), '
                   'support.workspace_member(uuid), support.shares_workspace(uuid), support.workspace_role(uuid), '
                   'support.check_new_message(uuid, uuid, text), '
                   'support.escalate_conversation(uuid, text), support.claim_conversation(uuid), '
                   'support.claim_next_conversation(uuid), support.release_conversation(uuid), '
                   'support.transfer_conversation(uuid, uuid), support.resolve_conversation(uuid), '
                   'support.reopen_conversation(uuid), support.authenticate(text), '
                   'support.add_member(uuid, uuid, text), support.set_member_role(uuid, uuid, text), '
                   'support.remove_member(uuid, uuid), support.inbox(integer), '
                   'support.mark_read(uuid, uuid), support.unread_counts(), support.require_user_id(), '
                   'support.queue_figures(), support.agent_figures(), support.notification_channel(uuid), '
                   'support.listen(uuid), support.unlisten(uuid), '
                   'support.search_messages(text, integer), support.set_search_config(uuid, regconfig), '
                   'support.search_vector(text, uuid, text), '
                   'support.sla_figures(timestamp with time zone, timestamp with time zone), '
                   'support.join_as_staff(uuid), support.set_staff_access(uuid, boolean), support.propagate_identity(), '
                   'support.distributed() TO %s', r);
    EXECUTE functions;

    -- On Citus (support.distribute()), GRANT and REVOKE on the tables reach
    -- every node's copy; on the functions they do not, and the policies and
    -- triggers call these functions on the workers, as this role.
    --
    -- And the coordinator sends an INSERT to a shard with every column that has
    -- a default spelled out (id, created_at, ...), so the shards must accept
    -- those columns from the role too. What the role may name in its own
    -- INSERT is still checked on the coordinator: there the extra columns are
    -- revoked again, on the coordinator's table only (docs/scale-out.md).
    IF support.distributed() THEN
        PERFORM support.on_workers(format('REVOKE ALL ON ALL FUNCTIONS IN SCHEMA support FROM %s', r));
        PERFORM support.on_workers(functions);
        FOR insertable IN
            SELECT t.t FROM pg_catalog.unnest(ARRAY['support.conversations', 'support.conversation_messages']::pg_catalog.regclass[]) AS t(t)
        LOOP
            SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO defaulted
              FROM pg_catalog.pg_attribute AS a
             WHERE a.attrelid OPERATOR(pg_catalog.=) insertable AND a.atthasdef
               AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
               AND NOT pg_catalog.has_column_privilege(app_role, insertable, a.attname, 'INSERT');
            CONTINUE WHEN defaulted IS NULL;
            EXECUTE format('GRANT INSERT (%s) ON %s TO %s', defaulted, insertable, r);
            propagation := pg_catalog.current_setting('citus.enable_ddl_propagation');
            PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', 'off', true);
            EXECUTE format('REVOKE INSERT (%s) ON %s FROM %s', defaulted, insertable, r);
            PERFORM pg_catalog.set_config('citus.enable_ddl_propagation', propagation, true);
        END LOOP;
    END IF;
END
$$;
