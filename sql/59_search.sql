-- conversations_ext: message search (docs/api.md#message-search).
--
-- Each message carries search_vector (sql/00_schema.sql): its words under its
-- workspace's text search configuration and its workspace's lexeme, with a
-- GIN index. A search asks for the words AND one of the caller's workspaces'
-- lexemes (for up to 20 workspaces): the index intersects them, so a common
-- word costs the caller's matching messages, not every tenant's.
--
-- SECURITY DEFINER, and RLS-equivalent by construction: row-level security
-- would forbid the index (PostgreSQL applies the policy before any qual that
-- is not LEAKPROOF, and tsvector @@ tsquery is not, so under RLS every search
-- reads the whole table), so the function applies the policies' own rule
-- itself. It reads only messages whose workspace_id is in
-- support.member_workspaces(), the set every policy's
-- support.workspace_member(workspace_id) tests, computed once for the caller's
-- identity. Per text search configuration of the caller's workspaces (usually
-- one), one query whose values are literals, so that the planner sees the
-- words and their frequencies. Ranked by ts_rank, then newest first; the snippets are made for
-- the rows returned only.

CREATE FUNCTION support.search_messages(query text, max_rows integer DEFAULT 50)
RETURNS TABLE (workspace_id uuid, conversation_id uuid, message_id uuid, created_at timestamptz,
               rank real, snippet text)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k record;
    parts text[];
BEGIN
    IF max_rows IS NULL OR max_rows OPERATOR(pg_catalog.<) 1 OR max_rows OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 1000, not %', max_rows
            USING ERRCODE = '22023';
    END IF;
    IF query IS NULL THEN
        RAISE EXCEPTION 'query must not be NULL'
            USING ERRCODE = '22004';
    END IF;
    FOR k IN
        SELECT w.search_config AS config,
               pg_catalog.websearch_to_tsquery(w.search_config::pg_catalog.regconfig, search_messages.query) AS words,
               pg_catalog.array_agg(w.id ORDER BY w.id) AS ids,
               pg_catalog.string_agg(pg_catalog.quote_literal('workspace:' OPERATOR(pg_catalog.||) w.id::text),
                                     ' | ' ORDER BY w.id)::pg_catalog.tsquery AS lexemes
          FROM support.workspaces AS w
         WHERE w.id OPERATOR(pg_catalog.=) ANY (support.member_workspaces())
         GROUP BY w.search_config
    LOOP
        CONTINUE WHEN pg_catalog.numnode(k.words) OPERATOR(pg_catalog.=) 0;
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format(
            'SELECT m.workspace_id, m.conversation_id, m.id, m.created_at, m.content, %1$L::pg_catalog.regconfig AS config, '
            '%2$L::pg_catalog.tsquery AS words, pg_catalog.ts_rank(m.search_vector, %2$L::pg_catalog.tsquery) AS rank '
            'FROM support.conversation_messages AS m '
            'WHERE m.search_vector OPERATOR(pg_catalog.@@) %4$L::pg_catalog.tsquery '
            'AND m.workspace_id OPERATOR(pg_catalog.=) ANY (%3$L::uuid[]) '
            'AND m.search_config OPERATOR(pg_catalog.=) %1$L',
            k.config, k.words, k.ids,
            -- the workspaces' lexemes, when they are few: an OR of many costs
            -- the index more than it saves (measured: docs/performance.md)
            CASE WHEN pg_catalog.cardinality(k.ids) OPERATOR(pg_catalog.<=) 20
                 THEN k.words OPERATOR(pg_catalog.&&) k.lexemes ELSE k.words END);
    END LOOP;
    IF parts IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT h.workspace_id, h.conversation_id, h.id, h.created_at, h.rank, '
        'pg_catalog.ts_headline(h.config, h.content, h.words, %L) '
        'FROM (SELECT u.* FROM (%s) AS u ORDER BY u.rank DESC, u.created_at DESC, u.id LIMIT %s) AS h '
        'ORDER BY h.rank DESC, h.created_at DESC, h.id',
        'StartSel=<<, StopSel=>>, MaxWords=20, MinWords=8',
        pg_catalog.array_to_string(parts, ' UNION ALL '), max_rows);
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
    -- Stored by name (sql/00_schema.sql), as this search_path spells it.
    UPDATE support.workspaces AS w SET search_config = config::text
     WHERE w.id OPERATOR(pg_catalog.=) ws AND w.search_config OPERATOR(pg_catalog.<>) config::text;
    UPDATE support.conversation_messages AS m SET search_config = config::text
     WHERE m.workspace_id OPERATOR(pg_catalog.=) ws AND m.search_config OPERATOR(pg_catalog.<>) config::text;
    RETURN config;
END
$$;
