//! Every released version (frozen install script in sql/released/, run
//! against the current library) -> ALTER EXTENSION UPDATE to the current
//! version, with an application role granted by the OLD grant_usage and data
//! written under the old version:
//!  (a) the old columns of every old table hold exactly the same data;
//!  (b) everything the extension owns equals a fresh install, by name;
//!  (c) the application role holds exactly, privilege by privilege, what
//!      grant_usage gives the same kind of role on a fresh install;
//!  (d) the application role can use the upgraded database: every public
//!      function and every readable relation, none refused for a missing
//!      privilege.

use pg_test::checksum;
use pg_test::prelude::*;
use pg_test::roles::{ensure_role, grant_usage};
use pg_test::{catalog, privileges};
use tokio_postgres::Client;

/// Members of W1 besides U1 (owner): an agent, a viewer, a bot; and a user
/// who is nobody's member yet (added and removed after the upgrade).
fn a2() -> String {
    agent_id(2)
}
fn viewer() -> String {
    agent_id(3)
}
fn bot() -> String {
    agent_id(4)
}
fn newcomer() -> String {
    agent_id(5)
}

/// The C symbols (`AS 'MODULE_PATHNAME', '<symbol>'`) a frozen install script names.
fn frozen_symbols(version: &str) -> Vec<String> {
    let path = format!(
        "{}/../sql/released/conversations_ext--{version}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let marker = "AS 'MODULE_PATHNAME', '";
    let mut out: Vec<String> = text
        .match_indices(marker)
        .filter_map(|(i, _)| {
            let rest = &text[i + marker.len()..];
            rest.find('\'').map(|end| rest[..end].to_string())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Column lists of every support table, as the catalog has them now.
async fn table_columns(c: &Client) -> Vec<(String, String)> {
    pairs(
        c,
        "SELECT c.relname::text, string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) \
           FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
          WHERE c.relnamespace = 'support'::regnamespace AND c.relkind = 'r' \
          GROUP BY c.relname ORDER BY 1",
    )
    .await
}

async fn has_function(c: &Client, name: &str) -> bool {
    c.query_one(
        "SELECT count(*) > 0 FROM pg_proc WHERE pronamespace = 'support'::regnamespace AND proname = $1",
        &[&name],
    )
    .await
    .unwrap()
    .get(0)
}

/// Data written under the old version, some of it through the old functions
/// by the application role (granted by the old grant_usage).
async fn write_old_data(old: &Client, role: &str) {
    let (a2, viewer, bot) = (a2(), viewer(), bot());
    old.batch_execute(&format!(
        "INSERT INTO support.users (id, kind) VALUES ('{U1}', 'human'), ('{U2}', 'human'), ('{a2}', 'human'),
                ('{viewer}', 'human'), ('{bot}', 'bot'), ('{}', 'human');
         INSERT INTO support.workspaces (id, name) VALUES ('{W1}', 'w1'), ('{W2}', 'w2');
         INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES
                ('{W1}', '{U1}', 'owner'), ('{W1}', '{a2}', 'agent'), ('{W1}', '{viewer}', 'viewer'),
                ('{W1}', '{bot}', 'agent'), ('{W2}', '{U2}', 'owner');
         INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
              SELECT '{W1}', 'escalated', now() - make_interval(secs => g), 'c' || g FROM generate_series(1, 20) g;
         INSERT INTO support.conversations (workspace_id, status, bot_user_id, subject)
              SELECT '{W1}', 'active', '{bot}', 'b' || g FROM generate_series(1, 3) g;
         INSERT INTO support.conversations (workspace_id, status, subject) VALUES ('{W2}', 'active', 'w2');
         INSERT INTO support.conversation_messages (conversation_id, role, content)
              SELECT id, 'customer', 'hello ' || subject FROM support.conversations;",
        newcomer()
    ))
    .await
    .unwrap();
    // A claim made by the old function, as the application role.
    as_role_user(
        old,
        role,
        Some(&a2),
        "SELECT support.claim_conversation(id) FROM support.conversations WHERE subject = 'c1'",
    )
    .await
    .unwrap_or_else(|e| panic!("old claim_conversation: {e}"));
    if has_function(old, "escalate_conversation").await {
        as_role_user(
            old,
            role,
            Some(&bot),
            "SELECT support.escalate_conversation(id, 'before the upgrade') FROM support.conversations WHERE subject = 'b3'",
        )
        .await
        .unwrap_or_else(|e| panic!("old escalate_conversation: {e}"));
    }
    if has_function(old, "authenticate").await {
        old.batch_execute(
            "INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k1', 'HS256', 'an upgrade test secret of 32+ bytes!')",
        )
        .await
        .unwrap();
    }
}

/// `sql` as `role` and end user `user` in a transaction that is rolled back.
async fn probe_as(
    c: &Client,
    role: &str,
    user: &str,
    sql: &str,
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    c.batch_execute(&format!(
        "BEGIN; SET LOCAL ROLE {role}; {}",
        set_local_user(user)
    ))
    .await?;
    let r = c.query(sql, &[]).await;
    c.batch_execute("ROLLBACK").await?;
    r
}

/// (d): the application role uses the upgraded database. Returns a summary,
/// or every statement refused for a missing privilege (or with an
/// unexpected SQLSTATE).
async fn use_after_upgrade(db: &str, fresh: &Client, role: &str) -> Result<String, String> {
    let app = connect(db).await;
    let (a2, bot, newcomer) = (a2(), bot(), newcomer());
    let id_of = |subject: &str| {
        format!("(SELECT id FROM support.conversations WHERE subject = '{subject}')")
    };
    let mut failures = Vec::new();
    let mut calls = 0;
    let mut skipped = Vec::new();

    // Reads, with isolation.
    let count = "SELECT count(*) FROM support.conversations";
    let seen: i64 = as_role_user(&app, role, Some(U1), count).await.unwrap()[0].get(0);
    assert_eq!(seen, 23, "U1 reads W1's conversations");
    let seen: i64 = as_role_user(&app, role, Some(U2), count).await.unwrap()[0].get(0);
    assert_eq!(seen, 1, "U2 reads W2's only");

    // Every public function, called meaningfully: (user, function, statement, expected SQLSTATE).
    let steps: Vec<(Option<String>, &str, String, &str)> = vec![
        (Some(a2.clone()), "claim_next_conversation",
         format!("SELECT subject FROM support.claim_next_conversation('{W1}')"), "00000"),
        (Some(bot.clone()), "escalate_conversation",
         format!("SELECT support.escalate_conversation({}, 'after the upgrade')", id_of("b1")), "00000"),
        (Some(a2.clone()), "claim_conversation",
         format!("SELECT support.claim_conversation({})", id_of("c19")), "00000"),
        (Some(a2.clone()), "release_conversation",
         format!("SELECT support.release_conversation({})", id_of("c19")), "00000"),
        (Some(a2.clone()), "transfer_conversation",
         format!("SELECT support.transfer_conversation({}, '{U1}')", id_of("c1")), "00000"),
        (Some(U1.to_string()), "resolve_conversation",
         format!("SELECT support.resolve_conversation({})", id_of("c1")), "00000"),
        (Some(U1.to_string()), "reopen_conversation",
         format!("SELECT support.reopen_conversation({})", id_of("c1")), "00000"),
        (None, "authenticate", "SELECT support.authenticate('not.a.token')".into(), "28000"),
        (Some(U1.to_string()), "current_user_id", "SELECT support.current_user_id()".into(), "00000"),
        (Some(U1.to_string()), "member_workspaces", "SELECT support.member_workspaces()".into(), "00000"),
        (Some(U1.to_string()), "workspace_member", format!("SELECT support.workspace_member('{W1}')"), "00000"),
        (Some(U1.to_string()), "workspace_role", format!("SELECT support.workspace_role('{W1}')"), "00000"),
        (Some(U1.to_string()), "add_member",
         format!("SELECT support.add_member('{W1}', '{newcomer}', 'agent')"), "00000"),
        (Some(U1.to_string()), "set_member_role",
         format!("SELECT support.set_member_role('{W1}', '{newcomer}', 'viewer')"), "00000"),
        (Some(U1.to_string()), "remove_member",
         format!("SELECT support.remove_member('{W1}', '{newcomer}')"), "00000"),
        // Writes the grants allow (column privileges included).
        (Some(U1.to_string()), "",
         format!("INSERT INTO support.conversations (workspace_id, subject) VALUES ('{W1}', 'after upgrade')"), "00000"),
        (Some(U1.to_string()), "",
         format!("UPDATE support.conversations SET subject = 'after upgrade', channel = 'web' WHERE id = {}", id_of("after upgrade")), "00000"),
        (Some(U1.to_string()), "",
         format!("INSERT INTO support.conversation_messages (conversation_id, role, content) VALUES ({}, 'agent', 'hi')", id_of("after upgrade")), "00000"),
        (Some(U1.to_string()), "",
         format!("UPDATE support.conversation_messages SET content = 'hi!' WHERE conversation_id = {}", id_of("after upgrade")), "00000"),
        (Some(U1.to_string()), "",
         format!("DELETE FROM support.conversation_messages WHERE conversation_id = {}", id_of("after upgrade")), "00000"),
        (Some(U1.to_string()), "",
         format!("DELETE FROM support.conversations WHERE id = {}", id_of("after upgrade")), "00000"),
    ];
    for (user, function, sql, want) in &steps {
        if !function.is_empty() && !has_function(fresh, function).await {
            skipped.push(function.to_string());
            continue;
        }
        calls += 1;
        let r = as_role_user(&app, role, user.as_deref(), sql).await;
        if r.as_ref().err().is_some_and(is_missing_privilege) || sqlstate(&r) != *want {
            failures.push(format!(
                "{sql} (as {user:?}): {} {} (want {want})",
                sqlstate(&r),
                error_message(&r)
            ));
        }
        if *function == "claim_next_conversation" {
            if let Ok(rows) = &r {
                let subject: Option<String> = rows[0].get(0);
                assert_eq!(subject.as_deref(), Some("c20"), "oldest waiting first");
            }
        }
    }

    // Every function the fresh grant_usage makes executable, with NULL
    // arguments: any outcome but a missing privilege.
    let functions = privileges::executable_functions(fresh, role).await;
    for (signature, call) in &functions {
        let r = probe_as(&app, role, U1, call).await;
        if r.as_ref().err().is_some_and(is_missing_privilege) {
            failures.push(format!("{signature}: {}", error_message(&r)));
        }
    }

    // Every relation the fresh grant_usage makes readable, every readable column.
    let relations = privileges::readable_relations(fresh, role).await;
    let names: Vec<&str> = relations.iter().map(|(r, _)| r.as_str()).collect();
    assert!(
        names.contains(&"support.conversation_events"),
        "conversation_events must be readable: {names:?}"
    );
    if has_function(fresh, "add_member").await {
        assert!(
            names.contains(&"support.member_events"),
            "member_events must be readable: {names:?}"
        );
    }
    for (relation, columns) in &relations {
        let sql = format!("SELECT {} FROM {relation} LIMIT 5", columns.join(", "));
        let r = as_role_user(&app, role, Some(U1), &sql).await;
        if r.is_err() {
            failures.push(format!("{sql}: {} {}", sqlstate(&r), error_message(&r)));
        }
    }
    if !failures.is_empty() {
        return Err(format!(
            "{} of the statements failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ));
    }
    let skipped = if skipped.is_empty() {
        String::new()
    } else {
        format!(" (not in this version: {})", skipped.join(", "))
    };
    Ok(format!(
        "{calls} calls as {role}{skipped}, {} functions with NULL arguments, {} relations read: no missing privilege",
        functions.len(),
        relations.len()
    ))
}

async fn upgrade_from(old_version: &str, tag: &str) {
    let role = format!("cx_app_from_{tag}");
    let (old_db, fresh_db) = (
        format!("cx_upgrade_from_{tag}"),
        format!("cx_upgrade_fresh_{tag}"),
    );
    let admin = recreate_database(&old_db, "").await;
    recreate_database(&fresh_db, "").await;
    let current = default_version(&admin).await;
    ensure_role(&admin, &role, "NOLOGIN").await;

    let old = connect(&old_db).await;
    old.batch_execute(&format!(
        "CREATE EXTENSION conversations_ext VERSION '{old_version}'"
    ))
    .await
    .unwrap_or_else(|e| panic!("install {old_version}: {e}"));
    assert_eq!(extension_version(&old).await.as_deref(), Some(old_version));
    // The frozen script's C functions all resolved in the current library
    // (CREATE FUNCTION ... LANGUAGE c looks the symbol up), and the installed
    // script is the frozen one.
    let installed_symbols: Vec<String> = texts(
        &old,
        "SELECT DISTINCT p.prosrc FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang \
              WHERE l.lanname = 'c' AND p.pronamespace = 'support'::regnamespace ORDER BY 1",
    )
    .await;
    assert_eq!(
        installed_symbols,
        frozen_symbols(old_version),
        "C symbols of the installed {old_version} vs sql/released/conversations_ext--{old_version}.sql"
    );
    grant_usage(&old, &role).await;
    write_old_data(&old, &role).await;
    let old_columns = table_columns(&old).await;
    let before = checksum::by_columns(&old, &old_columns).await;

    old.batch_execute("ALTER EXTENSION conversations_ext UPDATE")
        .await
        .unwrap_or_else(|e| panic!("ALTER EXTENSION UPDATE from {old_version}: {e}"));
    assert_eq!(
        extension_version(&old).await.as_deref(),
        Some(current.as_str())
    );

    // Every check runs and reports, then the test fails if any did.
    let mut problems = Vec::new();

    // (a) data unchanged.
    let after = checksum::by_columns(&old, &old_columns).await;
    if after != before {
        problems.push(format!(
            "(a) the old columns' data changed:\n before: {}\n after:  {}",
            before.join(", "),
            after.join(", ")
        ));
    }

    // (a2) every conversation numbered in its workspace by created_at, then
    // id (docs/api.md, "Conversation numbers"), 1..n, and the counter at n.
    let misnumbered: Vec<String> = texts(
        &old,
        "SELECT c.subject || ': #' || c.number || ', expected #' || x.expected \
           FROM support.conversations AS c \
           JOIN (SELECT id, row_number() OVER (PARTITION BY workspace_id ORDER BY created_at, id) AS expected \
                   FROM support.conversations) AS x ON x.id = c.id \
          WHERE c.number IS DISTINCT FROM x.expected \
         UNION ALL \
         SELECT 'counter of ' || w.name || ': ' || coalesce(k.last_number::text, 'none') || ', expected ' || m.n \
           FROM (SELECT workspace_id, count(*) AS n FROM support.conversations GROUP BY 1) AS m \
           JOIN support.workspaces AS w ON w.id = m.workspace_id \
           LEFT JOIN support.conversation_counters AS k ON k.workspace_id = m.workspace_id \
          WHERE k.last_number IS DISTINCT FROM m.n",
    )
    .await;
    if !misnumbered.is_empty() {
        problems.push(format!("(a2) numbering: {}", misnumbered.join("; ")));
    }
    let numbered: i64 = old
        .query_one(
            "SELECT count(*) FROM support.conversations WHERE number IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    if numbered == 0 {
        problems.push("(a2) control: no conversation to number".into());
    }

    // (b) catalog, by name. The fresh install has the same role granted by
    // its own grant_usage, so ACLs compare too.
    let fresh = connect(&fresh_db).await;
    fresh
        .batch_execute("CREATE EXTENSION conversations_ext")
        .await
        .unwrap();
    grant_usage(&fresh, &role).await;
    let upgraded = catalog::describe(&old).await;
    let installed = catalog::describe(&fresh).await;
    let (only_upgraded, only_fresh) = catalog::diff(&upgraded, &installed);
    if !(only_upgraded.is_empty() && only_fresh.is_empty()) {
        problems.push(format!(
            "(b) upgraded and fresh installs differ ({} lines only after the upgrade, {} only in the fresh install):\n only after upgrade:\n  {}\n only in fresh install:\n  {}",
            only_upgraded.len(),
            only_fresh.len(),
            only_upgraded.join("\n  "),
            only_fresh.join("\n  ")
        ));
    }

    // (c) privileges of the role granted before the upgrade.
    let held = privileges::of_role(&old, &role).await;
    let given = privileges::of_role(&fresh, &role).await;
    assert!(!given.is_empty(), "grant_usage gives something");
    let (only_held, only_given) = catalog::diff(&held, &given);
    if !(only_held.is_empty() && only_given.is_empty()) {
        problems.push(format!(
            "(c) {role} after the upgrade holds {} privileges, a fresh grant_usage gives {}: {} only after the upgrade, {} missing:\n only after upgrade:\n  {}\n only from a fresh grant_usage:\n  {}",
            held.len(),
            given.len(),
            only_held.len(),
            only_given.len(),
            only_held.join("\n  "),
            only_given.join("\n  ")
        ));
    }

    // (d) upgrade, then use.
    let used = use_after_upgrade(&old_db, &fresh, &role).await;
    if let Err(e) = &used {
        problems.push(format!("(d) {role} using the upgraded database: {e}"));
    }
    assert!(
        problems.is_empty(),
        "upgrade {old_version} -> {current}:\n{}",
        problems.join("\n")
    );
    println!(
        "upgrade {old_version} -> {current}: data unchanged ({}), {} catalog lines identical to a fresh install, {} privileges of the app role identical to a fresh grant_usage",
        before.join(", "),
        installed.len(),
        given.len()
    );
    println!("upgrade {old_version} -> {current}: {}", used.unwrap());
}

#[tokio::test]
async fn upgrade_from_0_1_0() {
    upgrade_from("0.1.0", "010").await;
}

#[tokio::test]
async fn upgrade_from_0_2_0() {
    upgrade_from("0.2.0", "020").await;
}

#[tokio::test]
async fn upgrade_from_0_3_0() {
    upgrade_from("0.3.0", "030").await;
}
