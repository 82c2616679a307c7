-- conversations_ext: support.workspace_member(uuid), the call of every
-- row-level security policy. Declared here rather than generated from its
-- Rust definition: its C entry point (workspace_member_wrapper,
-- src/membership/mod.rs) answers the usual per-row case without pgrx's
-- per-call machinery. The same definition as every release since 0.1.0
-- (0.4.0 dropped the SET clause: docs/security.md). The planner support
-- function is attached in sql/10_policies.sql.
CREATE FUNCTION support.workspace_member(workspace_id uuid) RETURNS bool
STRICT STABLE SECURITY DEFINER PARALLEL RESTRICTED
LANGUAGE c
AS 'MODULE_PATHNAME', 'workspace_member_wrapper';
