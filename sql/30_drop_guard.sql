-- conversations_ext: refuse DROP EXTENSION while tenant data exists.
-- DROP EXTENSION drops every support table with its rows. The event trigger
-- below (C, see src/drop_guard.rs: it reads which extensions the statement
-- names from the parse tree) refuses it unless the superuser-only setting
-- support.allow_drop_with_data is on, e.g.
--   BEGIN; SET LOCAL support.allow_drop_with_data = on; DROP EXTENSION conversations_ext; COMMIT;
CREATE FUNCTION support.drop_guard() RETURNS event_trigger
LANGUAGE c
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'conversations_ext_drop_guard';
COMMENT ON FUNCTION support.drop_guard() IS
    'Event trigger: refuses DROP EXTENSION conversations_ext while any support table holds rows, unless support.allow_drop_with_data is on.';

CREATE EVENT TRIGGER conversations_ext_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION support.drop_guard();
