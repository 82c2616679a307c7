//! The extension on a Citus cluster, as docs/scale-out.md describes it.
//!
//! Under `make test-citus` (pg_test's Citus mode, pg_test/src/citus.rs) every
//! test database is a Citus database of a coordinator and two workers with
//! the extension distributed. Expected values come from docs/scale-out.md
//! (the layout table, the restore procedure, the examples and their output)
//! and from the written rules (one audit event per change). Under
//! `make test` (one server) the same tests check what that page promises a
//! server without Citus: `support.distribute()` refuses with 0A000 and changes
//! nothing, the documented restore procedure works there too, and the same
//! audit trail.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;

use pg_test::checksum;
use pg_test::citus;
use pg_test::cluster::as_postgres;
use pg_test::doc_examples::{examples, expected_errors, normalise, psql, root, trimmed};
use pg_test::prelude::*;
use pg_test::roles::grant_usage;
use tokio_postgres::Client;

/// The layout table of docs/scale-out.md: (table, "reference" or
/// "distributed", distribution column, colocated with).
fn documented_layout() -> Vec<(String, String, String, String)> {
    let text =
        std::fs::read_to_string(root().join("docs/scale-out.md")).expect("docs/scale-out.md");
    let start = text
        .find("<!-- layout -->")
        .expect("<!-- layout --> in scale-out.md");
    let end = text
        .find("<!-- /layout -->")
        .expect("<!-- /layout --> in scale-out.md");
    let rows: Vec<_> = text[start..end]
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().trim_matches('`').to_string())
                .collect();
            (
                cells[0].clone(),
                cells[1].clone(),
                cells[2].clone(),
                cells[3].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows.len(),
        11,
        "the layout table lists the eleven shared tables"
    );
    rows
}

async fn sqlstate_of(c: &Client, sql: &str) -> String {
    sqlstate(&c.batch_execute(sql).await)
}

/// The documented layout, as Citus's metadata has it (or, without Citus, as
/// support.citus_layout() says it would be, and a refusal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layout_is_the_documented_one() {
    let documented = documented_layout();
    let c = fresh_database("cx_citus_layout", &[]).await;
    let from_function: Vec<(String, String)> = pairs(
        &c,
        "SELECT relation::text, citus_table_type FROM support.citus_layout()",
    )
    .await;
    let doc_pairs: Vec<(String, String)> = documented
        .iter()
        .map(|(t, k, _, _)| (t.clone(), k.clone()))
        .collect();
    assert_eq!(
        from_function, doc_pairs,
        "support.citus_layout() = docs/scale-out.md"
    );

    if !citus::enabled() {
        let before = checksum::by_table(&c).await;
        assert_eq!(
            sqlstate_of(&c, "SELECT * FROM support.distribute()").await,
            "0A000",
            "support.distribute() without Citus"
        );
        assert_eq!(
            checksum::by_table(&c).await,
            before,
            "a refused distribute() changes nothing"
        );
        let distributed: bool = c
            .query_one("SELECT support.distributed()", &[])
            .await
            .unwrap()
            .get(0);
        assert!(!distributed);
        println!(
            "citus: without Citus, support.distribute() refuses with 0A000 and changes nothing"
        );
        return;
    }
    let meta: BTreeMap<String, (String, Option<String>, i32)> = c
        .query(
            "SELECT p.logicalrelid::text,
                    CASE p.partmethod WHEN 'n' THEN 'reference' WHEN 'h' THEN 'distributed' ELSE p.partmethod::text END,
                    CASE WHEN p.partmethod = 'h' THEN column_to_column_name(p.logicalrelid, p.partkey) END,
                    p.colocationid
               FROM pg_dist_partition p
              WHERE p.logicalrelid::regclass::text LIKE 'support.%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect();
    assert_eq!(
        meta.keys().cloned().collect::<BTreeSet<_>>(),
        documented
            .iter()
            .map(|d| d.0.clone())
            .collect::<BTreeSet<_>>(),
        "exactly the documented tables are Citus tables"
    );
    for (table, kind, column, colocated) in &documented {
        let (got_kind, got_column, colocation) = &meta[table];
        assert_eq!(got_kind, kind, "{table}");
        assert_eq!(
            got_column.clone().unwrap_or_default(),
            *column,
            "{table}: distributed by"
        );
        if !colocated.is_empty() {
            assert_eq!(
                *colocation, meta[colocated].2,
                "{table} colocated with {colocated}"
            );
        }
    }
    // Idempotent, and refused on a worker.
    let again: Vec<(String, String)> = pairs(
        &c,
        "SELECT relation::text, citus_table_type FROM support.distribute(4)",
    )
    .await;
    assert_eq!(again, doc_pairs, "a second support.distribute()");
    let worker = citus::connect_worker(0, "cx_citus_layout").await;
    assert_eq!(
        sqlstate_of(&worker, "SELECT * FROM support.distribute()").await,
        "55000",
        "support.distribute() on a worker"
    );
    println!(
        "citus: layout = docs/scale-out.md ({} tables), colocated, distribute() idempotent, 55000 on a worker",
        documented.len()
    );
}

/// Rows of workspaces W1, W2 and ten more in every distributed table:
/// conversations, messages (naming their workspace), lifecycle and
/// membership events.
async fn populate(owner: &Client, db: &str) -> Vec<String> {
    let mut workspaces = vec![W1.to_string(), W2.to_string()];
    for n in 0..10 {
        let w = format!("a9000000-0000-4000-8000-{n:012}");
        owner
            .batch_execute(&format!(
                "INSERT INTO support.workspaces (id, name) VALUES ('{w}', 'extra {n}');
                 INSERT INTO support.workspace_members (workspace_id, user_id) VALUES ('{w}', '{U1}');"
            ))
            .await
            .unwrap();
        workspaces.push(w);
    }
    owner
        .batch_execute(
            "INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
             SELECT w.id, 'escalated', now() - make_interval(mins => g), 'c' || g
               FROM support.workspaces w, generate_series(1, 3) g;
             INSERT INTO support.conversation_messages (workspace_id, conversation_id, role, content)
             SELECT c.workspace_id, c.id, 'customer', 'hello ' || c.subject FROM support.conversations c;",
        )
        .await
        .unwrap();
    let app = connect_app(db).await;
    for w in &workspaces {
        if w != W2 {
            as_user_batch(
                &app,
                U1,
                &format!("SELECT support.claim_next_conversation('{w}')"),
            )
            .await
            .unwrap_or_else(|e| panic!("claim_next in {w}: {e:?}"));
            // Read positions too (distributed with the conversations).
            let first: String = owner
                .query_one(
                    &format!("SELECT min(id::text) FROM support.conversations WHERE workspace_id = '{w}'"),
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            as_user_batch(&app, U1, &format!("SELECT support.mark_read('{first}')"))
                .await
                .unwrap_or_else(|e| panic!("mark_read in {w}: {e:?}"));
        }
    }
    workspaces
}

/// Every row of a workspace, in every distributed table, is in shards of one
/// shard group on one node (read from the shards themselves).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_of_a_workspace_is_on_one_shard_group() {
    let db = "cx_citus_colocation";
    let owner = fresh_database(db, &[]).await;
    let workspaces = populate(&owner, db).await;
    if !citus::enabled() {
        let citus_here: bool = owner
            .query_one(
                "SELECT to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(!citus_here, "a server without Citus has no shards to check");
        println!("citus: no Citus here: nothing is sharded");
        return;
    }
    // workspace -> the (shard range start, node group) of each table's rows.
    let mut homes: BTreeMap<String, BTreeSet<(String, i32)>> = BTreeMap::new();
    for table in [
        "conversations",
        "conversation_messages",
        "conversation_events",
        "member_events",
    ] {
        let rows = owner
            .query(
                &format!(
                    "SELECT s.shardminvalue, p.groupid, r.result
                       FROM run_command_on_shards('support.{table}',
                            $cmd$SELECT coalesce(string_agg(workspace_id::text || ':' || n, ','), '') FROM (SELECT workspace_id, count(*) AS n FROM %s GROUP BY 1) x$cmd$) r
                       JOIN pg_dist_shard s ON s.shardid = r.shardid
                       JOIN pg_dist_placement p ON p.shardid = r.shardid
                      WHERE r.success"
                ),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{table}: {e:?}"));
        let mut found = 0i64;
        for r in &rows {
            let (range, group, result): (String, i32, String) = (r.get(0), r.get(1), r.get(2));
            for part in result.split(',').filter(|p| !p.is_empty()) {
                let (w, n) = part.split_once(':').unwrap();
                found += n.parse::<i64>().unwrap();
                homes
                    .entry(w.to_string())
                    .or_default()
                    .insert((range.clone(), group));
            }
        }
        let total: i64 = owner
            .query_one(&format!("SELECT count(*) FROM support.{table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert!(total > 0, "{table} holds rows (positive control)");
        assert_eq!(found, total, "{table}: every row found in a shard");
    }
    assert_eq!(
        homes.keys().cloned().collect::<BTreeSet<_>>(),
        workspaces.iter().cloned().collect::<BTreeSet<_>>(),
        "every workspace has rows"
    );
    let scattered: Vec<_> = homes.iter().filter(|(_, h)| h.len() != 1).collect();
    assert!(
        scattered.is_empty(),
        "workspaces on more than one shard group: {scattered:?}"
    );
    let groups: BTreeSet<_> = homes.values().flatten().collect();
    println!(
        "citus: {} workspaces, each on one shard group ({} shard groups used)",
        homes.len(),
        groups.len()
    );
}

/// The end user reaches the workers only when sent (fails closed until then).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_reaches_the_workers_only_when_sent() {
    let db = "cx_citus_identity";
    let owner = fresh_database(db, &[]).await;
    escalated_conversations(&owner, 5).await;
    let app = connect_app(db).await;
    app.batch_execute(&format!(
        "BEGIN; SELECT set_config('support.user_id', '{U1}', true)"
    ))
    .await
    .unwrap();
    let count = |sql: &'static str| {
        let app = &app;
        async move { app.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let before = count("SELECT count(*) FROM support.conversations").await;
    let insert = format!(
        "INSERT INTO support.conversations (workspace_id, channel, subject) VALUES ('{W1}', 'web', 'new')"
    );
    app.batch_execute("SAVEPOINT s").await.unwrap();
    let refused = sqlstate(&app.batch_execute(&insert).await);
    app.batch_execute("ROLLBACK TO SAVEPOINT s").await.unwrap();
    let sent: String = app
        .query_one("SELECT support.propagate_identity()::text", &[])
        .await
        .unwrap()
        .get(0);
    let after = count("SELECT count(*) FROM support.conversations").await;
    let inserted = sqlstate(&app.batch_execute(&insert).await);
    app.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(sent, U1);
    assert_eq!(
        after, 5,
        "after support.propagate_identity(): W1's conversations"
    );
    assert_eq!(
        inserted, "00000",
        "after support.propagate_identity(): a write in W1"
    );
    if citus::enabled() {
        assert_eq!(
            (before, refused.as_str()),
            (0, "42501"),
            "set_config() alone: the workers see nobody"
        );
    } else {
        assert_eq!(
            (before, refused.as_str()),
            (5, "00000"),
            "one server: set_config() is enough"
        );
    }
    println!("citus: identity before propagate_identity(): {before} rows, insert {refused}; after: {after} rows, insert {inserted}");
}

/// Every membership change and lifecycle change is recorded once, with its
/// actor: one event each, whatever the number of nodes that hold a copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_and_lifecycle_changes_are_audited_once() {
    let db = "cx_citus_audit";
    let owner = fresh_database(db, &[]).await;
    let (boss, agent) = (agent_id(90), agent_id(91));
    let (undone, later) = (agent_id(92), agent_id(93));
    owner
        .batch_execute(&format!(
            "INSERT INTO support.users (id) VALUES ('{boss}'), ('{agent}'), ('{undone}'), ('{later}');
             INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES ('{W1}', '{boss}', 'owner');"
        ))
        .await
        .unwrap();
    let conv = escalated_conversations(&owner, 1).await.remove(0);
    let app = connect_app(db).await;
    let steps = [
        (
            boss.as_str(),
            format!("SELECT support.add_member('{W1}', '{agent}', 'agent')"),
        ),
        (
            agent.as_str(),
            format!("SELECT support.claim_conversation('{conv}')"),
        ),
        (
            boss.as_str(),
            format!("SELECT support.set_member_role('{W1}', '{agent}', 'viewer')"),
        ),
        (
            boss.as_str(),
            format!("SELECT support.remove_member('{W1}', '{agent}')"),
        ),
    ];
    for (who, sql) in &steps {
        as_user_batch(&app, who, sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
    }
    // The user first sent inside a savepoint that is rolled back (a
    // set_config() identity, which Citus does not send itself): the rollback
    // takes the SET LOCAL back on the workers too, and the next change must
    // send the user again.
    let savepoint = format!(
        "BEGIN; SELECT set_config('support.user_id', '{boss}', true); \
         SAVEPOINT s; SELECT support.add_member('{W1}', '{undone}', 'agent'); ROLLBACK TO SAVEPOINT s; \
         SELECT support.add_member('{W1}', '{later}', 'agent'); COMMIT"
    );
    app.batch_execute(&savepoint)
        .await
        .unwrap_or_else(|e| panic!("{savepoint}: {e:?}"));
    let members: Vec<(String, String)> = pairs(
        &owner,
        &format!(
            "SELECT kind, actor_id::text FROM support.member_events WHERE user_id = '{agent}' ORDER BY created_at, id"
        ),
    )
    .await;
    let expected_members: Vec<(String, String)> = ["added", "role_changed", "removed"]
        .iter()
        .map(|k| (k.to_string(), boss.clone()))
        .collect();
    assert_eq!(members, expected_members, "member_events of the agent");
    let after_savepoint: Vec<(String, String, String)> = owner
        .query(
            &format!(
                "SELECT user_id::text, kind, coalesce(actor_id::text, 'NULL') FROM support.member_events
                  WHERE user_id IN ('{undone}', '{later}') ORDER BY created_at, id"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        after_savepoint,
        vec![(later.clone(), "added".to_string(), boss.clone())],
        "after a rolled-back savepoint: only the later addition, with its actor"
    );
    let events: Vec<(String, Option<String>)> = pairs(
        &owner,
        &format!(
            "SELECT kind, actor_id::text FROM support.conversation_events
              WHERE workspace_id = '{W1}' AND conversation_id = '{conv}' ORDER BY created_at, id"
        ),
    )
    .await;
    assert_eq!(
        events,
        vec![
            ("created".to_string(), None),
            ("claimed".to_string(), Some(agent.clone())),
            ("unassigned".to_string(), Some(boss.clone())),
        ],
        "conversation_events: created by the superuser (no end user), claimed by the agent, unassigned by the owner's demotion"
    );
    println!(
        "citus: {} member events and {} conversation events, one per change, each with its actor",
        members.len(),
        events.len()
    );
}

/// Runs PostgreSQL program `program` as postgres; panics unless it succeeds.
fn run_ok(program: &str, args: &[&str]) {
    let out = as_postgres(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The restore procedure of docs/scale-out.md, its shell lines as written
/// there, run against `target`.
fn restore_as_documented(dump: &str, target: &str) {
    let text = std::fs::read_to_string(root().join("docs/scale-out.md")).unwrap();
    let start = text
        .find("pg_dump -Fc -d app -f app.dump")
        .expect("the restore procedure in scale-out.md");
    let block = &text[start..text[start..].find("```").map(|e| start + e).unwrap()];
    let restore = block
        .lines()
        .skip(1)
        .collect::<Vec<_>>()
        .join("\n")
        .replace("app.dump", dump)
        .replace("-d app_restored", &format!("-d {target}"));
    let host = std::env::var("CX_PGHOST").unwrap();
    let port = std::env::var("CX_PGPORT").unwrap();
    let bindir = pg_test::cluster::pg_bindir();
    let out = std::process::Command::new("runuser")
        .args([
            "-u", "postgres", "--", "bash", "-o", "pipefail", "-c", &restore,
        ])
        .env(
            "PATH",
            format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bindir.display()),
        )
        .env("PGHOST", &host)
        .env("PGPORT", &port)
        .env("PGUSER", "postgres")
        .current_dir("/")
        .stdout(Stdio::null())
        .output()
        .expect("run the restore procedure");
    assert!(
        out.status.success(),
        "the documented restore failed:\n{restore}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every table a dump keeps (not the node-local membership versions and
/// notification secret).
async fn data(c: &Client) -> Vec<(String, i64, String)> {
    checksum::dumped_by_table(c).await
}

/// pg_dump of the database, restored as docs/scale-out.md says into a new
/// database set up the same way: every row identical, no event recorded
/// twice. The same procedure on one server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_and_restore_as_documented_keeps_every_row() {
    let db = "cx_citus_dump";
    let owner = fresh_database(db, &[]).await;
    populate(&owner, db).await;
    owner
        .batch_execute("INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('k1', 'HS256', 'restore-secret, at least 32 bytes for HS256')")
        .await
        .unwrap();
    let source = data(&owner).await;
    for table in [
        "conversations",
        "conversation_messages",
        "conversation_events",
        "member_events",
        "jwt_keys",
    ] {
        assert!(
            source.iter().any(|(t, n, _)| t == table && *n > 0),
            "{table} holds rows to restore (positive control): {source:?}"
        );
    }
    let dump = format!("/tmp/cx_citus_dump_{}.dump", std::process::id());
    let host = std::env::var("CX_PGHOST").unwrap();
    let port = std::env::var("CX_PGPORT").unwrap();
    run_ok(
        "pg_dump",
        &[
            "-Fc", "-h", &host, "-p", &port, "-U", "postgres", "-d", db, "-f", &dump,
        ],
    );
    let target = empty_database("cx_citus_restored").await;
    restore_as_documented(&dump, "cx_citus_restored");
    let _ = std::fs::remove_file(&dump);
    let restored = data(&target).await;
    assert_eq!(
        restored, source,
        "every row identical (count and md5 per table)"
    );
    println!(
        "citus: dump/restore as documented: {} tables identical ({})",
        restored.len(),
        restored
            .iter()
            .map(|(t, n, _)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// An existing database (rows, events) distributes as it is: every row the
/// same afterwards, no event recorded again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_database_distributes_as_it_is() {
    let db = "cx_citus_existing";
    let admin = recreate_database(db, "").await;
    pg_test::roles::ensure_role(&admin, APP_ROLE, "NOLOGIN").await;
    if citus::enabled() {
        pg_test::roles::retrying(&admin, &format!("ALTER ROLE {APP_ROLE} LOGIN")).await;
    }
    let owner = connect(db).await;
    owner
        .batch_execute("CREATE EXTENSION conversations_ext")
        .await
        .unwrap();
    grant_usage(&owner, APP_ROLE).await;
    owner
        .batch_execute(&format!(
            "INSERT INTO support.users (id) VALUES ('{U1}'), ('{U2}');
             INSERT INTO support.workspaces (id, name) VALUES ('{W1}', 'w1'), ('{W2}', 'w2');
             INSERT INTO support.workspace_members (workspace_id, user_id) VALUES ('{W1}', '{U1}'), ('{W2}', '{U2}');"
        ))
        .await
        .unwrap();
    populate(&owner, db).await;
    let before = data(&owner).await;
    let fk_names = "SELECT conname::text FROM pg_constraint \
                     WHERE contype = 'f' AND conrelid IN (SELECT relation FROM support.citus_layout()) ORDER BY 1";
    let listed = "SELECT name FROM support.citus_foreign_keys() ORDER BY 1";
    let installed: Vec<String> = texts(&owner, fk_names).await;
    assert_eq!(
        installed,
        texts::<Vec<String>>(&owner, listed).await,
        "support.citus_foreign_keys() lists every foreign key of the install"
    );
    let outcome = sqlstate(
        &owner
            .batch_execute("SET client_min_messages = warning; SELECT * FROM support.distribute(4)")
            .await,
    );
    let after = data(&owner).await;
    assert_eq!(
        after, before,
        "every row the same after support.distribute()"
    );
    if citus::enabled() {
        assert_eq!(outcome, "00000");
        let (distributed, laid_out): (i64, i64) = owner
            .query_one(
                "SELECT (SELECT count(*) FROM pg_dist_partition WHERE logicalrelid::text LIKE 'support.%'),
                        (SELECT count(*) FROM support.citus_layout())",
                &[],
            )
            .await
            .map(|r| (r.get(0), r.get(1)))
            .unwrap();
        assert_eq!(
            distributed, laid_out,
            "every table of support.citus_layout() is a Citus table"
        );
        assert_eq!(
            texts::<Vec<String>>(&owner, fk_names).await,
            installed,
            "the same foreign keys after support.distribute()"
        );
        // Isolation holds on the moved data (positive control: U1 sees W1's).
        let app = connect_app(db).await;
        let seen = count_as(
            &app,
            U1,
            &format!("SELECT count(*) FROM support.conversations WHERE workspace_id = '{W1}'"),
        )
        .await;
        let foreign = count_as(
            &app,
            U1,
            &format!("SELECT count(*) FROM support.conversations WHERE workspace_id = '{W2}'"),
        )
        .await;
        assert_eq!((seen > 0, foreign), (true, 0), "U1 after the move");
    } else {
        assert_eq!(outcome, "0A000");
    }
    println!(
        "citus: an existing database ({} rows) {} with every row unchanged",
        before.iter().map(|(_, n, _)| n).sum::<i64>(),
        if citus::enabled() {
            "distributed"
        } else {
            "was refused (no Citus)"
        }
    );
}

/// The ```sql citus examples of docs/scale-out.md, on the examples'
/// database (docs/examples/setup.sql) distributed: their exact output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_citus_examples_of_scale_out_md_run() {
    let file = root().join("docs/scale-out.md");
    let found = examples(&file, "sql citus");
    assert!(
        found.len() >= 2,
        "scale-out.md has its ```sql citus examples"
    );
    if !citus::enabled() {
        println!(
            "citus: {} cluster examples in scale-out.md (run by make test-citus)",
            found.len()
        );
        return;
    }
    let db = "cx_citus_docs";
    let mut problems = Vec::new();
    for ex in &found {
        recreate_database(db, "").await;
        let setup = std::fs::read_to_string(root().join("docs/examples/setup.sql")).unwrap();
        let (ok, out) = psql(db, &["-v", "ON_ERROR_STOP=1"], &setup);
        assert!(ok, "docs/examples/setup.sql on the cluster: {out}");
        let c = connect(db).await;
        pg_test::roles::retrying(&c, &format!("ALTER ROLE {APP_ROLE} LOGIN")).await;
        citus::distribute(&c).await;
        let script = format!(
            "\\set VERBOSITY verbose\n\\set SHOW_CONTEXT never\n{}",
            ex.sql
        );
        let (_, raw) = psql(db, &[], &script);
        let (shown, codes) = normalise(&raw);
        let wanted = expected_errors(&ex.sql);
        if codes != wanted {
            problems.push(format!(
                "{}: SQLSTATEs {codes:?}, marked {wanted:?}:\n{shown}",
                ex.at
            ));
        }
        if let Some(expected) = &ex.output {
            if trimmed(expected) != shown {
                problems.push(format!(
                    "{}: the output shown is not psql's.\n--- shown in the docs\n{}\n--- psql\n{shown}",
                    ex.at,
                    trimmed(expected)
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    println!(
        "citus: {} examples of scale-out.md ran on the cluster with their output",
        found.len()
    );
}
