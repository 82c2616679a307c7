-- conversations_ext: queue and SLA figures (docs/api.md#queue-and-sla-figures).
--
-- SECURITY INVOKER functions, one row per workspace the caller reads (driven
-- from support.workspaces, so a workspace with nothing waiting still has its
-- row of zeros): row-level security applies to every row they read, exactly as
-- to the caller's own query. Each aggregates the conversations of the
-- caller's workspaces grouped by workspace_id, from an index, in a
-- sub-query that Citus runs on the shards; the workspaces (a reference table)
-- are joined to it afterwards.

-- Now: the open conversations per status, and the oldest wait. The partial
-- index conversations_open_idx holds exactly the open conversations.
CREATE FUNCTION support.queue_figures()
RETURNS TABLE (workspace_id uuid, active bigint, escalated bigint, claimed bigint, oldest_waiting_since timestamptz)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT w.id,
           COALESCE(q.active, 0), COALESCE(q.escalated, 0), COALESCE(q.claimed, 0),
           q.oldest_waiting_since
      FROM support.workspaces AS w
      LEFT JOIN (
            SELECT c.workspace_id,
                   pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'active') AS active,
                   pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'escalated') AS escalated,
                   pg_catalog.count(*) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'claimed') AS claimed,
                   pg_catalog.min(c.escalated_at) FILTER (WHERE c.status OPERATOR(pg_catalog.=) 'escalated')
                       AS oldest_waiting_since
              FROM support.conversations AS c
             WHERE c.workspace_id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
               AND c.status OPERATOR(pg_catalog.=) ANY ('{active,escalated,claimed}'::text[])
             GROUP BY c.workspace_id) AS q
        ON q.workspace_id OPERATOR(pg_catalog.=) w.id
$$;

-- Now: per member who may claim (a human owner, admin or agent), the
-- conversations they hold and since when the oldest of them. Members who hold
-- none have a row of zeros: the lead sees who is free.
CREATE FUNCTION support.agent_figures()
RETURNS TABLE (workspace_id uuid, user_id uuid, claimed bigint, oldest_claim_since timestamptz)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT m.workspace_id, m.user_id, COALESCE(q.claimed, 0), q.oldest_claim_since
      FROM support.workspace_members AS m
      -- Each member's kind by its primary key (OFFSET 0 keeps the planner
      -- from scanning all users instead, each under the users policy).
      JOIN LATERAL (SELECT u.kind FROM support.users AS u
                     WHERE u.id OPERATOR(pg_catalog.=) m.user_id OFFSET 0) AS u
        ON u.kind OPERATOR(pg_catalog.=) 'human'
      LEFT JOIN (
            SELECT c.workspace_id, c.claimed_by,
                   pg_catalog.count(*) AS claimed,
                   pg_catalog.min(c.claimed_at) AS oldest_claim_since
              FROM support.conversations AS c
             WHERE c.workspace_id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
               AND c.status OPERATOR(pg_catalog.=) 'claimed'
             GROUP BY c.workspace_id, c.claimed_by) AS q
        ON q.workspace_id OPERATOR(pg_catalog.=) m.workspace_id
       AND q.claimed_by OPERATOR(pg_catalog.=) m.user_id
     WHERE m.workspace_id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
       AND m.role OPERATOR(pg_catalog.=) ANY ('{owner,admin,agent}'::text[])
$$;

-- Over the conversations created in [since, until): how many; median and 90th
-- percentile of the time to the first agent reply (first_agent_reply_at -
-- created_at, of those answered) and of the time to resolution (resolved_at -
-- created_at, of those resolved now); and the reopen rate: of those resolved
-- at least once, the share that was reopened. The window is read from
-- conversations_inbox_idx (workspace_id, created_at).
CREATE FUNCTION support.sla_figures(since timestamptz DEFAULT pg_catalog.now() OPERATOR(pg_catalog.-) '30 days'::interval,
                                    until timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (workspace_id uuid, conversations bigint,
               first_reply_p50 interval, first_reply_p90 interval,
               resolution_p50 interval, resolution_p90 interval,
               reopen_rate double precision)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF since IS NULL OR until IS NULL OR since OPERATOR(pg_catalog.>) until THEN
        RAISE EXCEPTION 'the window [since, until) needs since <= until, neither NULL'
            USING ERRCODE = '22023';
    END IF;
    RETURN QUERY
    SELECT w.id, COALESCE(q.conversations, 0),
           q.first_reply_p50, q.first_reply_p90, q.resolution_p50, q.resolution_p90, q.reopen_rate
      FROM support.workspaces AS w
      LEFT JOIN (
            SELECT c.workspace_id,
                   pg_catalog.count(*) AS conversations,
                   pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY c.first_agent_reply_at OPERATOR(pg_catalog.-) c.created_at)
                       AS first_reply_p50,
                   pg_catalog.percentile_cont(0.9) WITHIN GROUP (ORDER BY c.first_agent_reply_at OPERATOR(pg_catalog.-) c.created_at)
                       AS first_reply_p90,
                   pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY c.resolved_at OPERATOR(pg_catalog.-) c.created_at)
                       AS resolution_p50,
                   pg_catalog.percentile_cont(0.9) WITHIN GROUP (ORDER BY c.resolved_at OPERATOR(pg_catalog.-) c.created_at)
                       AS resolution_p90,
                   (pg_catalog.count(*) FILTER (WHERE c.reopen_count OPERATOR(pg_catalog.>) 0))::double precision
                     OPERATOR(pg_catalog./)
                   NULLIF(pg_catalog.count(*) FILTER (WHERE c.resolved_at IS NOT NULL
                                                         OR c.reopen_count OPERATOR(pg_catalog.>) 0), 0)
                       AS reopen_rate
              FROM support.conversations AS c
             WHERE c.workspace_id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
               AND c.created_at OPERATOR(pg_catalog.>=) since
               AND c.created_at OPERATOR(pg_catalog.<) until
             GROUP BY c.workspace_id) AS q
        ON q.workspace_id OPERATOR(pg_catalog.=) w.id;
END
$$;
