//! conversations_ext: a multi-tenant support-conversation store whose tenant
//! isolation is enforced by PostgreSQL row-level security.
//!
//! The schema, policies, triggers and grants are plain SQL in `sql/`; this
//! crate wires them in load order and holds the functions that benefit from
//! Rust (identity, membership, the claim state machine).

use pgrx::prelude::*;

::pgrx::pg_module_magic!(name, version);

mod authorship;
mod citus;
mod drop_guard;
mod errors;
mod gucs;
mod identity;
mod lifecycle;
mod membership;
mod notifications;
mod plans;
mod restore;
mod unguarded;

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Whether a transaction callback's `event` ends the transaction (commit,
/// abort, or PREPARE TRANSACTION, which Citus's two-phase commit uses): what
/// the transaction-scoped state in backend memory is forgotten at.
pub(crate) fn transaction_ends(event: pg_sys::XactEvent::Type) -> bool {
    use pg_sys::XactEvent::*;
    matches!(
        event,
        XACT_EVENT_COMMIT
            | XACT_EVENT_ABORT
            | XACT_EVENT_PARALLEL_COMMIT
            | XACT_EVENT_PARALLEL_ABORT
            | XACT_EVENT_PREPARE
    )
}

/// Settings and transaction callbacks, once per backend.
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    identity::verified::init();
    lifecycle::pending::init();
    notifications::init();
}

// Tables, constraints and indexes first: everything else refers to them.
extension_sql_file!("../sql/00_schema.sql", name = "schema", bootstrap);

// The policies' call, with its own C entry point (see the file).
extension_sql_file!(
    "../sql/05_workspace_member.sql",
    name = "workspace_member",
    requires = ["schema"]
);

// Row-level security needs the identity and membership helpers.
extension_sql_file!(
    "../sql/10_policies.sql",
    name = "policies",
    requires = [
        "schema",
        identity::current_user_id,
        membership::member_workspaces,
        "workspace_member",
        membership::shares_workspace,
        membership::planner::workspace_member_support
    ]
);

extension_sql_file!(
    "../sql/20_triggers.sql",
    name = "triggers",
    requires = [
        "schema",
        identity::current_user_id,
        membership::workspace_role,
        authorship::check_new_message,
        restore::restoring,
        restore::bypasses_row_security,
        lifecycle::pending::lifecycle_pending,
        lifecycle::unassign::unassign_claims,
        identity::verified::check_jwt_key
    ]
);

extension_sql_file!(
    "../sql/30_drop_guard.sql",
    name = "drop_guard",
    requires = ["schema"]
);

// Membership management (plain SQL functions over the triggers' rules).
extension_sql_file!(
    "../sql/40_membership.sql",
    name = "membership",
    requires = [
        "triggers",
        membership::workspace_role,
        identity::require_user_id
    ]
);

// support.inbox(): newest conversations across the caller's workspaces.
extension_sql_file!(
    "../sql/50_inbox.sql",
    name = "inbox",
    requires = ["policies", membership::member_workspaces]
);

// support.mark_read() and support.unread_counts(): read positions.
extension_sql_file!(
    "../sql/55_reads.sql",
    name = "reads",
    requires = [
        "policies",
        membership::member_workspaces,
        identity::require_user_id
    ]
);

// Queue and SLA figures per workspace.
extension_sql_file!(
    "../sql/57_figures.sql",
    name = "figures",
    requires = ["policies", membership::member_workspaces]
);

// Notifications: the secret's row and the triggers that notify.
extension_sql_file!(
    "../sql/58_notifications.sql",
    name = "notifications",
    requires = [
        "triggers",
        restore::restoring,
        notifications::random_secret,
        notifications::notification_channel_of,
        notifications::notification_channel,
        notifications::notification_secret_changed
    ]
);

// Message search, and each workspace's text search configuration.
extension_sql_file!(
    "../sql/59_search.sql",
    name = "search",
    requires = [
        "policies",
        membership::member_workspaces,
        membership::workspace_role,
        identity::require_user_id
    ]
);

// Citus: support.distribute() and what the layout needs (docs/scale-out.md).
extension_sql_file!(
    "../sql/60_citus.sql",
    name = "citus",
    requires = ["triggers"]
);

// support.grant_usage(role) (its body names the public functions; plpgsql
// resolves them when it runs).
extension_sql_file!(
    "../sql/85_grant_usage.sql",
    name = "grant_usage",
    requires = ["schema"]
);

// Catalog comments of the public functions, generated from docs/api.md.
extension_sql_file!(
    "../sql/95_comments.sql",
    name = "comments",
    requires = [
        "membership",
        "inbox",
        "reads",
        "figures",
        "notifications",
        "search",
        notifications::notification_channel,
        "grant_usage",
        "citus",
        identity::current_user_id,
        identity::propagate_identity,
        identity::verified::authenticate,
        membership::member_workspaces,
        "workspace_member",
        membership::workspace_role,
        lifecycle::escalate_conversation,
        lifecycle::claim_conversation,
        lifecycle::claim_next_conversation,
        lifecycle::release_conversation,
        lifecycle::transfer_conversation,
        lifecycle::resolve_conversation,
        lifecycle::reopen_conversation
    ]
);

// Grants last, once every function exists.
extension_sql_file!("../sql/90_grants.sql", name = "grants", finalize);

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
