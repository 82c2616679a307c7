-- conversations_ext: the inbox, newest conversations across all the caller's
-- workspaces, at a cost that stays small for a member of thousands.
--
-- The per-workspace LATERAL query (newest max_rows of each workspace, then the
-- newest max_rows of those) reads up to max_rows rows per workspace: 300,000
-- rows for a member of 10,000 workspaces. For a member of more than max_rows
-- workspaces, this function first reads the newest conversation of each
-- (one index-only descent each) and keeps the max_rows workspaces whose newest
-- is newest; then it reads at most max_rows keys of each (index-only), and
-- fetches the rows of the newest max_rows keys only. That is exact: if a conversation is among the
-- newest max_rows overall, every workspace whose newest conversation is newer
-- than its own workspace's holds a newer conversation, so there are fewer than
-- max_rows such workspaces. Ties are broken by id, the same total order
-- (created_at DESC, id) throughout.
--
-- SECURITY INVOKER: row-level security applies to every row it reads, exactly
-- as to the caller's own query. On Citus it is one distributed query.
CREATE FUNCTION support.inbox(max_rows integer DEFAULT 50) RETURNS SETOF support.conversations
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    mine uuid[];
BEGIN
    IF max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 OR max_rows OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', max_rows
            USING ERRCODE = '22023';
    END IF;
    mine := support.member_workspaces();
    IF support.distributed() THEN
        -- Citus (docs/scale-out.md): one query, which Citus runs on every
        -- shard holding one of these workspaces (each returns its newest
        -- max_rows from the index) and merges; the per-workspace LATERAL
        -- steps below are not distributable.
        RETURN QUERY
        SELECT c.*
          FROM support.conversations AS c
         WHERE c.workspace_id OPERATOR(pg_catalog.=) ANY (mine)
         ORDER BY c.created_at DESC, c.id
         LIMIT max_rows;
        RETURN;
    END IF;
    IF pg_catalog.cardinality(mine) OPERATOR(pg_catalog.<=) 1 THEN
        -- One workspace (or none): its newest rows, straight from the index
        -- (the two steps below would read the same keys twice).
        RETURN QUERY
        SELECT c.*
          FROM support.conversations AS c
         WHERE c.workspace_id OPERATOR(pg_catalog.=) mine[1]
         ORDER BY c.created_at DESC, c.id
         LIMIT max_rows;
        RETURN;
    END IF;
    IF pg_catalog.cardinality(mine) OPERATOR(pg_catalog.>) max_rows THEN
        -- Only the max_rows workspaces whose newest conversation is newest
        -- can hold the answer (one index-only descent per workspace).
        SELECT pg_catalog.array_agg(w.id) INTO mine
          FROM (SELECT w.id
                  FROM pg_catalog.unnest(mine) AS w(id)
                  CROSS JOIN LATERAL (
                        SELECT h.created_at, h.id
                          FROM support.conversations AS h
                         WHERE h.workspace_id OPERATOR(pg_catalog.=) w.id
                         ORDER BY h.created_at DESC, h.id
                         LIMIT 1) AS newest
                 ORDER BY newest.created_at DESC, newest.id
                 LIMIT max_rows) AS w;
    END IF;
    -- The newest max_rows keys of those workspaces (index-only), then their rows.
    RETURN QUERY
    SELECT c.*
      FROM (SELECT k.workspace_id, k.id, k.created_at
              FROM pg_catalog.unnest(mine) AS w(id)
              CROSS JOIN LATERAL (
                    SELECT x.workspace_id, x.id, x.created_at
                      FROM support.conversations AS x
                     WHERE x.workspace_id OPERATOR(pg_catalog.=) w.id
                     ORDER BY x.created_at DESC, x.id
                     LIMIT max_rows) AS k
             ORDER BY k.created_at DESC, k.id
             LIMIT max_rows) AS top
      JOIN support.conversations AS c
        ON c.workspace_id OPERATOR(pg_catalog.=) top.workspace_id AND c.id OPERATOR(pg_catalog.=) top.id
     ORDER BY top.created_at DESC, top.id;
END
$$;
