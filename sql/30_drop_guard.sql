-- conversations_ext: refuse to drop tenant data by accident.
-- DROP EXTENSION drops every support table with its rows; so do DROP SCHEMA
-- support CASCADE and a DROP TABLE of one of the extension's tables. The event
-- trigger below (C, see src/drop_guard.rs: it reads what the statement drops
-- from the parse tree, so dynamic SQL is caught too) refuses them (2BP01) while
-- any support table holds rows, unless the superuser-only setting
-- support.allow_drop_with_data is on, e.g.
--   BEGIN; SET LOCAL support.allow_drop_with_data = on; DROP EXTENSION conversations_ext; COMMIT;
CREATE FUNCTION support.drop_guard() RETURNS event_trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'conversations_ext_drop_guard';
COMMENT ON FUNCTION support.drop_guard() IS
    'Event trigger: refuses DROP EXTENSION conversations_ext, DROP SCHEMA support and DROP TABLE of a support table while any support table holds rows, unless support.allow_drop_with_data is on.';

CREATE EVENT TRIGGER conversations_ext_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA', 'DROP TABLE')
    EXECUTE FUNCTION support.drop_guard();
