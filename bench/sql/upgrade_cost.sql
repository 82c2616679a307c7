-- What the 0.3.0 -> 0.4.0 upgrade costs per million messages (docs/operations.md#upgrade): the
-- search column added as the upgrade script adds it (a rewrite), then its GIN index, on a
-- stand-in table of 1M messages like the bench's. psql -f bench/sql/upgrade_cost.sql in a scratch database.
\timing on
CREATE TABLE m (workspace_id uuid, id uuid, content text);
INSERT INTO m SELECT md5((g % 2000)::text)::uuid, gen_random_uuid(),
  substr('Hello, I ordered a blender last week and it still has not arrived. Could you check the tracking number for me? Thanks, and sorry for the trouble: it is a gift for my mother.', 1 + (g * 7) % 40, 60 + (g * 13) % 100)
  FROM generate_series(1, 1000000) g;
CHECKPOINT;
ALTER TABLE m ADD COLUMN search_config regconfig NOT NULL DEFAULT 'pg_catalog.simple',
              ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (pg_catalog.to_tsvector(search_config, content)) STORED;
CREATE INDEX ON m USING gin (search_vector);
