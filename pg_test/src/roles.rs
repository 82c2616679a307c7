//! The one way tests create roles: idempotently (roles are cluster-wide and tests run in parallel), then grant them what they need.

use std::time::Duration;

use tokio_postgres::Client;

/// Runs `sql` (role DDL on the shared catalogs) again while another session's
/// concurrent change of the same role makes it fail.
pub async fn retrying(admin: &Client, sql: &str) {
    for attempt in 0.. {
        match admin.batch_execute(sql).await {
            Ok(()) => return,
            // "tuple concurrently updated" (XX000) and the unique index of
            // the role catalogs (23505) when two sessions race on one role.
            Err(e)
                if attempt < 20
                    && e.code()
                        .is_some_and(|c| ["XX000", "23505", "40001"].contains(&c.code())) =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

/// Creates `role` with `options` (e.g. `NOLOGIN`, `LOGIN`) unless it exists.
pub async fn ensure_role(admin: &Client, role: &str, options: &str) {
    retrying(
        admin,
        &format!(
            "DO $$ BEGIN CREATE ROLE {role} {options}; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ),
    )
    .await;
}

/// Makes `role` a member of `group` (nothing when it already is).
pub async fn grant_membership(admin: &Client, group: &str, role: &str) {
    retrying(
        admin,
        &format!(
            "DO $$ BEGIN IF NOT pg_has_role('{role}', '{group}', 'MEMBER') THEN GRANT {group} TO {role}; END IF; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ),
    )
    .await;
}

/// `support.grant_usage(role)` in the connected database: what a DBA runs
/// so that an application role may use the extension.
pub async fn grant_usage(c: &Client, role: &str) {
    c.batch_execute(&format!("SELECT support.grant_usage('{role}')"))
        .await
        .unwrap_or_else(|e| panic!("support.grant_usage('{role}'): {e}"));
}
