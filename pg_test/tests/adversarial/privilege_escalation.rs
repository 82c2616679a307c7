//! Privilege escalation: views, functions, rules, settings and DDL an application role could try in order to get round the policies all fail and change nothing; every read path still returns exactly the model after each round.

use pg_test::adversarial::session::{begin, Identity};
use pg_test::adversarial::{setup, Report, World, TENANT};
use pg_test::checksum::checksum;
use pg_test::fixture::APP_ROLE;
use pg_test::outcome::outcome;
use tokio_postgres::Client;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_application_role_cannot_get_round_the_policies() {
    let mut s = setup("privilege_escalation").await;
    for identity in s.identities.clone().iter().step_by(3) {
        escalation_attempts(
            &s.owner,
            &s.app,
            &s.w,
            identity,
            &mut s.report,
            &s.baseline,
            s.has_identity_mode,
        )
        .await;
        s.read_paths(identity, false, true).await;
    }
    println!(
        "adversarial privilege_escalation: {} attempts, {} read-path cases after them",
        s.report
            .by_area
            .get("privilege escalation")
            .copied()
            .unwrap_or(0),
        s.report.by_area.get("read paths").copied().unwrap_or(0)
    );
    s.finish();
}

/// (d) Views, functions, rules, settings and DDL an application role could
/// try in order to get round the policies.
async fn escalation_attempts(
    owner: &Client,
    app: &Client,
    w: &World,
    identity: &Identity,
    report: &mut Report,
    baseline: &str,
    has_identity_mode: bool,
) {
    let some_conv = w.model.live_conversations().next().unwrap().id.clone();
    let mut attempts: Vec<(&str, String, &str)> = vec![
        ("disable row-level security", "ALTER TABLE support.conversations DISABLE ROW LEVEL SECURITY".into(), ""),
        ("NO FORCE row-level security", "ALTER TABLE support.conversations NO FORCE ROW LEVEL SECURITY".into(), ""),
        ("add a permissive policy", "CREATE POLICY cx_open ON support.conversations FOR SELECT USING (true)".into(), ""),
        ("drop a policy", "DROP POLICY conversations_select_member ON support.conversations".into(), ""),
        ("alter a policy", "ALTER POLICY conversations_select_member ON support.conversations USING (true)".into(), ""),
        ("a rule on a support table", "CREATE RULE cx_rule AS ON INSERT TO support.conversations DO INSTEAD NOTHING".into(), ""),
        ("disable the triggers", "ALTER TABLE support.conversations DISABLE TRIGGER ALL".into(), ""),
        ("an index evaluating a leaky function over every row", "CREATE INDEX cx_leak_idx ON support.conversations (public.leak(subject))".into(), ""),
        ("TRUNCATE", "TRUNCATE support.conversation_messages".into(), ""),
        ("take ownership", format!("ALTER TABLE support.conversations OWNER TO {APP_ROLE}"), ""),
        ("replace current_user_id()", "CREATE OR REPLACE FUNCTION support.current_user_id() RETURNS uuid LANGUAGE sql AS 'SELECT NULL::uuid'".into(), ""),
        ("plant a function in schema support", "CREATE FUNCTION support.cx_planted() RETURNS int LANGUAGE sql AS 'SELECT 1'".into(), ""),
        ("make member_workspaces() SECURITY INVOKER", "ALTER FUNCTION support.member_workspaces() SECURITY INVOKER".into(), ""),
        ("mark a leaky function LEAKPROOF", "ALTER FUNCTION public.leak(text) LEAKPROOF".into(), ""),
        ("session_replication_role = replica (skips triggers)", "SET LOCAL session_replication_role = replica".into(), ""),
        ("row_security = off", "SELECT count(*) FROM support.conversations".into(), "SET LOCAL row_security = off;"),
        ("row_security = off through set_config()", "SELECT count(*) FROM support.conversation_messages".into(), "SELECT set_config('row_security', 'off', true);"),
        ("SECURITY DEFINER function with row_security = off", "SELECT count(*) FROM public.definer_rls_off()".into(), ""),
        ("SET ROLE to the superuser", "SET LOCAL ROLE postgres".into(), ""),
        ("SET SESSION AUTHORIZATION to the superuser", "SET SESSION AUTHORIZATION postgres".into(), ""),
        ("read the lifecycle backend state", format!("SELECT support.lifecycle_pending('{some_conv}')"), ""),
        ("read the token keys", "SELECT count(*) FROM support.jwt_keys".into(), ""),
        ("write a token key", "INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('mine', 'HS256', 'secret')".into(), ""),
        ("ALTER EXTENSION", "ALTER EXTENSION conversations_ext UPDATE".into(), ""),
        ("DROP EXTENSION", "DROP EXTENSION conversations_ext CASCADE".into(), ""),
        ("grant_usage to itself", format!("SELECT support.grant_usage('{TENANT}')"), ""),
        ("read pg_statistic", "SELECT count(*) FROM pg_catalog.pg_statistic".into(), ""),
        ("read the support staff", "SELECT count(*) FROM support.staff".into(), ""),
        ("read the staff's workspaces", "SELECT count(*) FROM support.staff_workspaces".into(), ""),
        ("make every user support staff", "INSERT INTO support.staff (user_id, role) SELECT id, 'admin' FROM support.users".into(), ""),
        ("promote the support staff", "UPDATE support.staff SET role = 'admin', all_workspaces = true".into(), ""),
        ("serve every workspace as staff", "INSERT INTO support.staff_workspaces (workspace_id, user_id) SELECT w.id, s.user_id FROM support.workspaces w, support.staff s".into(), ""),
        ("open every workspace to staff", "UPDATE support.workspaces SET staff_access = true".into(), ""),
        ("unmark the members who joined as staff", "UPDATE support.workspace_members SET joined_as_staff = false".into(), ""),
        ("make set_staff_access SECURITY INVOKER", "ALTER FUNCTION support.set_staff_access(uuid, boolean) SECURITY INVOKER".into(), ""),
    ];
    if has_identity_mode {
        attempts.push((
            "switch identity_mode",
            "SET LOCAL support.identity_mode = 'claims'".into(),
            "",
        ));
    }
    let has_jwt_keys = owner
        .query_one("SELECT to_regclass('support.jwt_keys') IS NOT NULL", &[])
        .await
        .unwrap()
        .get::<_, bool>(0);
    for (label, sql, setup) in attempts {
        if label.contains("token key") && !has_jwt_keys {
            continue;
        }
        begin(app, identity, setup).await;
        let o = outcome(app, &sql).await;
        app.batch_execute("COMMIT").await.unwrap();
        report.case("privilege escalation");
        if !o.is_error() {
            report.leak(format!(
                "{}: {label} succeeded: {}",
                identity.label(),
                o.describe()
            ));
        } else if !["42501", "0A000", "42P01"].contains(&o.state.as_str()) {
            report.fail(format!(
                "{}: {label}: unexpected {}",
                identity.label(),
                o.describe()
            ));
        }
        report.case("database unchanged");
        assert_eq!(
            checksum(owner).await,
            baseline,
            "{label} changed the database"
        );
    }
}
