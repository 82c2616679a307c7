-- The application role every regression file acts through (what PostgREST's
-- `authenticated` would be). Roles are cluster-wide: created only when missing,
-- never dropped. Nothing else here is global.
DO $$ BEGIN CREATE ROLE support_app NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
SELECT support.grant_usage('support_app');
SELECT rolname, rolcanlogin, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'support_app';
