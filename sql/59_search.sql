-- conversations_ext: message search (docs/api.md#message-search).
--
-- Each message carries search_vector (sql/00_schema.sql): its words under its
-- workspace's text search configuration, and the lexeme 'workspace:<id>'. A
-- search groups the caller's workspaces by configuration and, per
-- configuration, asks the GIN index for the query's words AND one of those
-- workspaces' lexemes, so it reads the caller's matching messages and no
-- other tenant's. SECURITY INVOKER: row-level security applies to every row
-- it reads as well, exactly as to the caller's own query.

CREATE FUNCTION support.search_messages(query text, max_rows integer DEFAULT 50)
RETURNS TABLE (workspace_id uuid, conversation_id uuid, message_id uuid, created_at timestamptz,
               rank real, snippet text)
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    IF max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 OR max_rows OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', max_rows
            USING ERRCODE = '22023';
    END IF;
    IF query IS NULL THEN
        RAISE EXCEPTION 'query must not be NULL'
            USING ERRCODE = '22004';
    END IF;
    RETURN QUERY
    WITH configs AS (
        -- The caller's workspaces by configuration, and the query under each.
        SELECT w.search_config AS config,
               pg_catalog.websearch_to_tsquery(w.search_config, search_messages.query) AS words,
               pg_catalog.string_agg(pg_catalog.quote_literal('workspace:' OPERATOR(pg_catalog.||) w.id::text),
                                     ' | ')::pg_catalog.tsquery AS workspaces,
               pg_catalog.array_agg(w.id) AS ids
          FROM support.workspaces AS w
         WHERE w.id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
         GROUP BY w.search_config
    ), hits AS (
        SELECT m.workspace_id, m.conversation_id, m.id, m.created_at, m.content, k.config, k.words,
               pg_catalog.ts_rank(m.search_vector, k.words) AS rank
          FROM configs AS k
          JOIN support.conversation_messages AS m
            ON m.search_vector OPERATOR(pg_catalog.@@) (k.words OPERATOR(pg_catalog.&&) k.workspaces)
           AND m.workspace_id OPERATOR(pg_catalog.=) ANY (k.ids)
           AND m.search_config OPERATOR(pg_catalog.=) k.config
         WHERE pg_catalog.numnode(k.words) OPERATOR(pg_catalog.>) 0   -- nothing to look for (only stop words)
         ORDER BY rank DESC, m.created_at DESC, m.id
         LIMIT max_rows
    )
    SELECT h.workspace_id, h.conversation_id, h.id, h.created_at, h.rank,
           pg_catalog.ts_headline(h.config, h.content, h.words,
                                  'StartSel=<<, StopSel=>>, MaxWords=20, MinWords=8')
      FROM hits AS h
     ORDER BY h.rank DESC, h.created_at DESC, h.id;
END
$$;

-- The owner or an admin of a workspace sets its text search configuration.
-- Its messages are indexed again under it (an UPDATE of each message's
-- search_config: search_vector is generated from it), in this transaction.
-- SECURITY DEFINER: application roles may not update those columns.
CREATE FUNCTION support.set_search_config(workspace_id uuid, config regconfig)
RETURNS regconfig
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ws uuid := set_search_config.workspace_id;
    role text;
BEGIN
    PERFORM support.require_user_id();   -- 28000 without an end user
    role := support.workspace_role(ws);
    IF role IS NULL THEN
        RAISE EXCEPTION 'workspace % not found', ws
            USING ERRCODE = 'P0002';
    END IF;
    IF role OPERATOR(pg_catalog.<>) ALL ('{owner,admin}'::text[]) THEN
        RAISE EXCEPTION 'workspace role % cannot set the search configuration', role
            USING ERRCODE = '42501',
                  HINT = 'An owner or admin of the workspace can. See docs/permissions.md.';
    END IF;
    IF config IS NULL THEN
        RAISE EXCEPTION 'config must not be NULL'
            USING ERRCODE = '22004';
    END IF;
    UPDATE support.workspaces AS w SET search_config = config
     WHERE w.id OPERATOR(pg_catalog.=) ws AND w.search_config OPERATOR(pg_catalog.<>) config;
    UPDATE support.conversation_messages AS m SET search_config = config
     WHERE m.workspace_id OPERATOR(pg_catalog.=) ws AND m.search_config OPERATOR(pg_catalog.<>) config;
    RETURN config;
END
$$;
