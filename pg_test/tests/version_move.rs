//! A database moved from one PostgreSQL major version to a newer one (15 to
//! 18) keeps everything: the commands of docs/operations.md ("Moving to a
//! newer PostgreSQL"), run as written.
//!
//! The source, on a cluster of the old version: the permission matrix's
//! fixture, a login application role given `support.grant_usage` beside the
//! fixture's `support_app`, and a third workspace whose conversations went
//! through the lifecycle functions (audit events written). After the move:
//! - every support table identical (rows and md5 per table), but for the
//!   derived membership versions after a dump, which must cover every member;
//! - the catalog description of everything the extension owns (the comparison
//!   the extension-upgrade test uses: policies, grants, triggers, functions,
//!   ...) identical to a fresh install on the new version, and to the source
//!   but for what the new version itself records (checked rules, counted),
//!   and each application role's privileges identical to both;
//! - the login role logs in and works; the third workspace's members see
//!   exactly it (a positive control and a refused cross-tenant write), and a
//!   lifecycle walk there follows docs/lifecycle.md with its events;
//! - every cell of the permission matrix (docs/permissions.tsv) as written.
//!
//! Both tests need the new version's installation with the extension:
//! `CX_MOVE_TO_PG_CONFIG` names its pg_config (`make test` sets it when it
//! tests both versions; `make test-move` runs this alone). Without it they
//! say so and do nothing. The old version is the one under test (run.sh's).

use std::path::{Path, PathBuf};
use std::process::Command;

use pg_test::catalog;
use pg_test::checksum;
use pg_test::cluster::{connect_as, pg_bindir, run, OwnCluster, Target};
use pg_test::doc_examples::{examples, root, trimmed};
use pg_test::matrix::cells::every_cell;
use pg_test::matrix::fixture::{build_on, W};
use pg_test::privileges;
use pg_test::roles::{ensure_role, grant_usage};
use pg_test::session::{as_user, error_text, sqlstate, texts};
use tokio_postgres::Client;

/// The database the docs' commands move.
const DB: &str = "app";
/// A login application role (what PostgREST's `authenticated` is).
const LOGIN_ROLE: &str = "authenticated";
/// The matrix fixture's application role (NOLOGIN, used through SET ROLE).
const APP_ROLE: &str = pg_test::fixture::APP_ROLE;

/// Workspace Y and its members: owner YO, agents YA and YB.
const Y: &str = "c3000000-0000-4000-8000-000000000003";
const YO: &str = "d3000000-0000-4000-8000-000000000001";
const YA: &str = "d3000000-0000-4000-8000-000000000002";
const YB: &str = "d3000000-0000-4000-8000-000000000003";
/// Support staff serving Y only (support.staff_workspaces).
const YS: &str = "d3000000-0000-4000-8000-000000000004";

/// The new version's pg_config and bin directory, when the harness names one
/// (`CX_MOVE_TO_PG_CONFIG`); else None, said on stdout.
fn new_version() -> Option<(String, PathBuf)> {
    let Some(pg_config) = std::env::var("CX_MOVE_TO_PG_CONFIG")
        .ok()
        .filter(|p| !p.is_empty())
    else {
        println!(
            "version_move: CX_MOVE_TO_PG_CONFIG is not set: no version to move to (make test-move)"
        );
        return None;
    };
    let bindir = PathBuf::from(run(Command::new(&pg_config).arg("--bindir")));
    Some((pg_config, bindir))
}

/// `pg_config --version` of the installation in `bindir`.
fn version_of(bindir: &Path) -> String {
    run(Command::new(bindir.join("pg_config")).arg("--version"))
}

/// A temporary directory the postgres user owns (mode 0700), removed when dropped.
struct WorkDir(String);

impl WorkDir {
    fn new(prefix: &str) -> Self {
        let dir = run(Command::new("mktemp").args(["-d", &format!("/tmp/{prefix}.XXXXXX")]));
        run(Command::new("chown").args(["postgres:", &dir]));
        WorkDir(dir)
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The ```sh `name` block of docs/operations.md and the output shown after it.
fn doc_block(name: &str) -> (String, String, String) {
    let path = root().join("docs/operations.md");
    let mut found = examples(&path, &format!("sh {name}"));
    assert_eq!(
        found.len(),
        1,
        "docs/operations.md has one ```sh {name} block"
    );
    let e = found.remove(0);
    (
        e.at,
        e.sql,
        e.output.map(|o| trimmed(&o)).unwrap_or_default(),
    )
}

/// Runs the ```sh `name` block of docs/operations.md with bash (errexit), as
/// the postgres user in `cwd`, with `env`; returns (success, stdout and
/// stderr merged in order), and checks the block's shown output: its lines
/// must appear, in one run, in what the commands printed.
fn run_doc_block(name: &str, cwd: &str, env: &[(&str, String)]) -> (bool, String) {
    let (at, script, shown) = doc_block(name);
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--", "bash", "-c"])
        .arg(format!("set -euo pipefail\nexec 2>&1\n{script}"))
        .current_dir(cwd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("{at}: {e}"));
    let printed = trimmed(&String::from_utf8_lossy(&out.stdout));
    println!("{at} (```sh {name}): exit {:?}", out.status.code());
    if !shown.is_empty() && out.status.success() {
        let lines: Vec<&str> = printed.lines().collect();
        let want: Vec<&str> = shown.lines().collect();
        assert!(
            lines.windows(want.len()).any(|w| w == want.as_slice()),
            "{at}: the output shown in the docs is not what the commands printed.\n shown:\n{shown}\n printed:\n{printed}"
        );
    }
    (out.status.success(), printed)
}

/// A connection to `db` of `target` as `user`.
async fn connect_to(target: &Target, user: &str, db: &str) -> Client {
    connect_as(target, user, db, "version_move")
        .await
        .unwrap_or_else(|e| panic!("connect to {db} as {user} ({target:?}): {e}"))
        .0
}

/// `sql` (one statement, whose first column is a text) in a transaction of its
/// own acting as end user `user`: Ok(that column of the first row) or the error.
async fn as_end_user(
    c: &Client,
    user: &str,
    sql: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    Ok(as_user(c, user, sql)
        .await?
        .first()
        .and_then(|r| r.get::<_, Option<String>>(0)))
}

/// What a moved database must keep, taken on the source.
struct Snapshot {
    rows: Vec<(String, i64, String)>,
    catalog: Vec<String>,
    privileges: Vec<(String, Vec<String>)>,
    version: String,
}

async fn snapshot(c: &Client) -> Snapshot {
    let mut privs = Vec::new();
    for role in [APP_ROLE, LOGIN_ROLE] {
        privs.push((role.to_string(), privileges::of_role(c, role).await));
    }
    Snapshot {
        rows: checksum::by_table(c).await,
        catalog: catalog::describe(c).await,
        privileges: privs,
        version: c
            .query_one("SELECT current_setting('server_version')", &[])
            .await
            .unwrap()
            .get(0),
    }
}

/// The catalog descriptions of the old and the new version with what the
/// new version records and the old cannot set aside, each rule applied only
/// when the new side shows it and checked; returns both sides and one note
/// per rule used.
/// - PostgreSQL 17 added the MAINTAIN privilege (`m`), which a table's owner
///   holds by default: taken out of the new side's table ACLs when the old
///   side has it nowhere.
/// - PostgreSQL 18 records NOT NULL constraints in pg_constraint
///   (`<table>_<column>_not_null`): set aside when the old side has none,
///   each one's column being `not null` in the (compared) column lines.
/// - PostgreSQL 18 records a table's row type (and its array type) as a
///   member of the extension: set aside when the old side has none, each
///   one's table being a member.
fn across_versions(old: &[String], new: &[String]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut notes = Vec::new();
    let mut new: Vec<String> = new.to_vec();
    let acl_has_maintain = |line: &str| {
        line.split(" acl=").nth(1).is_some_and(|acl| {
            acl.split(' ').next().unwrap_or("").split(',').any(|item| {
                item.split('=')
                    .nth(1)
                    .is_some_and(|p| p.split('/').next().unwrap_or("").contains('m'))
            })
        })
    };
    if !old
        .iter()
        .any(|l| l.starts_with("table: ") && acl_has_maintain(l))
    {
        let mut n = 0;
        for line in new.iter_mut().filter(|l| l.starts_with("table: ")) {
            let (head, rest) = line.split_once(" acl=").unwrap();
            let (acl, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let stripped: Vec<String> = acl
                .trim_matches(|c| c == '{' || c == '}')
                .split(',')
                .map(|item| match item.split_once('=') {
                    Some((who, privs)) => {
                        let (p, grantor) = privs.split_once('/').unwrap_or((privs, ""));
                        if p.contains('m') {
                            n += 1;
                        }
                        format!("{who}={}/{grantor}", p.replace('m', ""))
                    }
                    None => item.to_string(),
                })
                .collect();
            *line = format!("{head} acl={{{}}} {tail}", stripped.join(","));
        }
        notes.push(format!(
            "{n} table ACL items hold MAINTAIN (m, PostgreSQL 17+), set aside"
        ));
    }
    let is_not_null = |l: &str| l.starts_with("constraint: ") && l.contains("_not_null NOT NULL ");
    if !old.iter().any(|l| is_not_null(l)) {
        let taken: Vec<String> = new.iter().filter(|l| is_not_null(l)).cloned().collect();
        for c in &taken {
            // "constraint: support.t t_col_not_null NOT NULL col"
            let words: Vec<&str> = c.split(' ').collect();
            let table = words[1].trim_start_matches("support.");
            let column = words.last().unwrap();
            let prefix = format!("column: {table}.{column} ");
            assert!(
                new.iter()
                    .any(|l| l.starts_with(&prefix) && l.contains(" not null")),
                "{c}: its column is not null"
            );
        }
        new.retain(|l| !is_not_null(l));
        notes.push(format!(
            "{} NOT NULL constraints (pg_constraint, PostgreSQL 18+), each a not-null column on both sides, set aside",
            taken.len()
        ));
    }
    let is_type_member = |l: &str| l.starts_with("member: type support.");
    if !old.iter().any(|l| is_type_member(l)) {
        let taken: Vec<String> = new.iter().filter(|l| is_type_member(l)).cloned().collect();
        for t in &taken {
            let table = t.trim_start_matches("member: type ").trim_end_matches("[]");
            assert!(
                new.iter().any(|l| l == &format!("member: table {table}")),
                "{t}: the row type of a member table"
            );
        }
        new.retain(|l| !is_type_member(l));
        notes.push(format!(
            "{} row types of member tables recorded as members (PostgreSQL 18+), set aside",
            taken.len()
        ));
    }
    (old.to_vec(), new, notes)
}

/// Builds the source database on `old`; returns its snapshot.
async fn build_source(old: &Target) -> Snapshot {
    let (c, _) = build_on(old, DB).await;
    ensure_role(&c, LOGIN_ROLE, "LOGIN").await;
    grant_usage(&c, LOGIN_ROLE).await;
    c.batch_execute(&format!(
        "INSERT INTO support.users (id, kind, display_name) VALUES
           ('{YO}', 'human', 'YO'), ('{YA}', 'human', 'YA'), ('{YB}', 'human', 'YB');
         INSERT INTO support.workspaces (id, name) VALUES ('{Y}', 'Y');
         INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES ('{Y}', '{YO}', 'owner');
         INSERT INTO support.users (id, kind, display_name) VALUES ('{YS}', 'human', 'YS');
         INSERT INTO support.staff (user_id, role, all_workspaces) VALUES ('{YS}', 'agent', false);
         INSERT INTO support.staff_workspaces (workspace_id, user_id) VALUES ('{Y}', '{YS}');"
    ))
    .await
    .unwrap();
    // Y's history, written by the application through the login role.
    let app = connect_to(old, LOGIN_ROLE, DB).await;
    let steps: Vec<(&str, String)> = vec![
        // Like X, Y refuses support staff: the matrix's staff subject reads W only.
        (YO, format!("SELECT support.set_staff_access('{Y}', false)")),
        (YO, format!("SELECT support.add_member('{Y}', '{YA}', 'agent')")),
        (YO, format!("SELECT support.add_member('{Y}', '{YB}', 'agent')")),
        (
            YO,
            format!(
                "INSERT INTO support.conversations (workspace_id, subject, status)
                 SELECT '{Y}', 'y' || g, CASE WHEN g <= 4 THEN 'escalated' ELSE 'active' END
                   FROM generate_series(1, 6) g"
            ),
        ),
        (YA, format!("SELECT support.claim_next_conversation('{Y}')")),
        (YA, format!("SELECT support.claim_next_conversation('{Y}')")),
        (YB, format!("SELECT support.claim_next_conversation('{Y}')")),
        (
            YA,
            format!(
                "INSERT INTO support.conversation_messages (conversation_id, role, author_id, content)
                 SELECT id, 'agent', '{YA}', 'on it' FROM support.conversations WHERE claimed_by = '{YA}'"
            ),
        ),
        (YA, "SELECT support.release_conversation(id) FROM support.conversations WHERE claimed_by = pg_catalog.current_setting('support.user_id')::uuid ORDER BY subject LIMIT 1".into()),
        (YB, format!("SELECT support.transfer_conversation(id, '{YA}') FROM support.conversations WHERE claimed_by = '{YB}'")),
        (YA, format!("SELECT support.resolve_conversation(id) FROM support.conversations WHERE claimed_by = '{YA}'")),
        (YB, format!("SELECT support.reopen_conversation(id) FROM support.conversations WHERE workspace_id = '{Y}' AND status = 'resolved'")),
        (YB, "SELECT support.escalate_conversation(id, 'needs a human') FROM support.conversations WHERE subject = 'y5'".into()),
    ];
    for (user, sql) in &steps {
        as_user(&app, user, sql)
            .await
            .unwrap_or_else(|e| panic!("source: {sql} as {user}: {}", error_text(&e)));
    }
    let snap = snapshot(&c).await;
    for (t, n, _) in &snap.rows {
        assert!(*n > 0, "source: every table holds rows: {t} has none");
    }
    let y_events: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM support.conversation_events WHERE workspace_id = '{Y}' AND actor_id IS NOT NULL"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        y_events >= 8,
        "source: Y's lifecycle wrote its events ({y_events})"
    );
    snap
}

/// Everything a moved database must keep, checked on `new` against the source's snapshot.
async fn check_moved(new: &Target, source: &Snapshot, how: &str, derived_state_kept: bool) {
    let c = connect_to(new, "postgres", DB).await;
    let moved = snapshot(&c).await;
    assert_ne!(
        moved.version, source.version,
        "{how}: the database is on another version"
    );
    // The tables a dump does not hold (pg_test::checksum::not_dumped):
    // support.membership_versions is derived state, which the restore's own
    // inserts write again, one version for every member; the notification
    // secret is made anew by CREATE EXTENSION. pg_upgrade copies the files,
    // so both are the same.
    let derived = pg_test::checksum::not_dumped(&c).await;
    let without = |rows: &[(String, i64, String)]| -> Vec<(String, i64, String)> {
        rows.iter()
            .filter(|(t, _, _)| !derived.contains(t))
            .cloned()
            .collect()
    };
    if derived_state_kept {
        assert_eq!(
            moved.rows, source.rows,
            "{how}: every row identical (count and md5 per table)"
        );
    } else {
        assert_eq!(
            without(&moved.rows),
            without(&source.rows),
            "{how}: every row identical (count and md5 per table) but {derived:?}'s"
        );
        let unversioned: i64 = c
            .query_one(
                "SELECT count(DISTINCT m.user_id) FROM support.workspace_members m \
                  WHERE NOT EXISTS (SELECT FROM support.membership_versions v WHERE v.user_id = m.user_id)",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(
            unversioned, 0,
            "{how}: every member has a membership version"
        );
    }
    // The same as a fresh install on the new version, with the same roles
    // granted (the extension-upgrade test's comparison, no rule needed).
    let fresh = pg_test::cluster::recreate_database_on(new, "fresh", "").await;
    drop(fresh);
    let fresh = connect_to(new, "postgres", "fresh").await;
    fresh
        .batch_execute("CREATE EXTENSION conversations_ext")
        .await
        .unwrap();
    for role in [APP_ROLE, LOGIN_ROLE] {
        grant_usage(&fresh, role).await;
    }
    let fresh = snapshot(&fresh).await;
    let (only_fresh, only_moved) = catalog::diff(&fresh.catalog, &moved.catalog);
    assert!(
        only_fresh.is_empty() && only_moved.is_empty(),
        "{how}: the catalog differs from a fresh install on {}:\n only in the fresh install:\n  {}\n only in the moved database:\n  {}",
        moved.version,
        only_fresh.join("\n  "),
        only_moved.join("\n  ")
    );
    assert_eq!(
        moved.privileges, fresh.privileges,
        "{how}: the application roles' privileges, moved and fresh"
    );
    // The same as the source, but for what the new version itself records
    // differently (each rule checked, and counted).
    let (old_lines, new_lines, notes) = across_versions(&source.catalog, &moved.catalog);
    let (only_source, only_moved) = catalog::diff(&old_lines, &new_lines);
    assert!(
        only_source.is_empty() && only_moved.is_empty(),
        "{how}: the catalog differs:\n only on {}:\n  {}\n only on {}:\n  {}",
        source.version,
        only_source.join("\n  "),
        moved.version,
        only_moved.join("\n  ")
    );
    for n in &notes {
        println!("{how}: catalog: {n}");
    }
    assert_eq!(
        moved.privileges, source.privileges,
        "{how}: the application roles' privileges"
    );
    println!(
        "{how}: PostgreSQL {} -> {}: {} tables identical ({} rows), {} catalog lines identical, \
         privileges of {APP_ROLE} ({}) and {LOGIN_ROLE} ({}) identical",
        source.version,
        moved.version,
        moved.rows.len(),
        moved.rows.iter().map(|(_, n, _)| n).sum::<i64>(),
        moved.catalog.len(),
        moved.privileges[0].1.len(),
        moved.privileges[1].1.len()
    );

    // The login role logs in; Y's members see exactly Y (positive control:
    // the superuser's count of Y's rows, > 0), and cannot write into W.
    let app = connect_to(new, LOGIN_ROLE, DB).await;
    for table in [
        "conversations",
        "conversation_messages",
        "conversation_events",
    ] {
        let truth: i64 = c
            .query_one(
                &format!("SELECT count(*) FROM support.{table} WHERE workspace_id = '{Y}'"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(truth > 0, "{how}: Y has {table}");
        for user in [YO, YA, YB] {
            let seen = as_end_user(
                &app,
                user,
                &format!("SELECT count(*) || ' ' || count(DISTINCT workspace_id) || ' ' || min(workspace_id::text) FROM support.{table}"),
            )
            .await
            .unwrap();
            assert_eq!(
                seen.as_deref(),
                Some(format!("{truth} 1 {Y}").as_str()),
                "{how}: {user} reads exactly Y's {table}"
            );
        }
    }
    let r = as_end_user(
        &app,
        YA,
        &format!(
            "INSERT INTO support.conversations (workspace_id, subject) VALUES ('{W}', 'into W')"
        ),
    )
    .await;
    assert_eq!(sqlstate(&r), "42501", "{how}: YA cannot write into W");

    // A lifecycle walk in Y, as docs/lifecycle.md's table and api.md's errors say: each allowed
    // transition appends one event by its actor, a refused one nothing.
    let id = as_end_user(
        &app,
        YO,
        &format!("INSERT INTO support.conversations (workspace_id, subject, status) VALUES ('{Y}', 'walk', 'active') RETURNING id::text"),
    )
    .await
    .unwrap()
    .unwrap();
    let walk: Vec<(&str, String, &str, Option<&str>)> = vec![
        // (actor, statement, SQLSTATE, status afterwards)
        (
            YA,
            format!("SELECT status FROM support.reopen_conversation('{id}')"),
            "55000",
            None,
        ),
        (
            YA,
            format!("SELECT status FROM support.escalate_conversation('{id}', 'walk')"),
            "00000",
            Some("escalated"),
        ),
        (
            YA,
            format!("SELECT status FROM support.claim_conversation('{id}')"),
            "00000",
            Some("claimed"),
        ),
        // api.md: claim_conversation of one another agent holds is 55006.
        (
            YB,
            format!("SELECT status FROM support.claim_conversation('{id}')"),
            "55006",
            None,
        ),
        (
            YA,
            format!("SELECT status FROM support.transfer_conversation('{id}', '{YB}')"),
            "00000",
            Some("claimed"),
        ),
        (
            YB,
            format!("SELECT status FROM support.release_conversation('{id}')"),
            "00000",
            Some("escalated"),
        ),
        (
            YB,
            format!("SELECT status FROM support.claim_conversation('{id}')"),
            "00000",
            Some("claimed"),
        ),
        (
            YB,
            format!("SELECT status FROM support.resolve_conversation('{id}')"),
            "00000",
            Some("resolved"),
        ),
        (
            YA,
            format!("SELECT status FROM support.reopen_conversation('{id}')"),
            "00000",
            Some("escalated"),
        ),
    ];
    let count_events =
        format!("SELECT count(*) FROM support.conversation_events WHERE conversation_id = '{id}'");
    for (actor, sql, state, after) in &walk {
        let before: i64 = c.query_one(&count_events, &[]).await.unwrap().get(0);
        let r = as_end_user(&app, actor, sql).await;
        let got = match &r {
            Ok(_) => "00000".to_string(),
            Err(e) => e.code().map(|c| c.code().to_string()).unwrap_or_default(),
        };
        assert_eq!(
            (got.as_str(), r.as_ref().ok().cloned().flatten().as_deref()),
            (*state, *after),
            "{how}: lifecycle walk: {sql} as {actor}"
        );
        let rows = c
            .query(
                &format!("SELECT actor_id::text FROM support.conversation_events WHERE conversation_id = '{id}' ORDER BY created_at OFFSET {before}"),
                &[],
            )
            .await
            .unwrap();
        let actors: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        let want: Vec<String> = if r.is_ok() {
            vec![actor.to_string()]
        } else {
            vec![]
        };
        assert_eq!(
            actors, want,
            "{how}: lifecycle walk: the events of {sql} as {actor}"
        );
    }
    println!("{how}: {LOGIN_ROLE} works; Y's members read exactly Y; lifecycle walk of {} steps as written", walk.len());

    // Every cell of the permission matrix, on the moved database.
    let t = every_cell(&c, &format!("{how}: permission matrix")).await;
    assert!(t.allowed > 0 && t.refused > 0);
    assert!(
        t.disagreements.is_empty(),
        "{how}: cells not as written:\n{}",
        t.disagreements.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_and_restore_into_the_new_version() {
    let Some((new_config, new_bin)) = new_version() else {
        return;
    };
    let old = OwnCluster::start_with("cx-move-old", None);
    let new = OwnCluster::start_with("cx-move-new", Some(&new_config));
    let source = build_source(&old.target).await;
    let work = WorkDir::new("cx-move-dump");
    let conn = |t: &Target| format!("-h {} -p {} -U postgres", t.host, t.port);
    let (ok, printed) = run_doc_block(
        "move-dump-restore",
        &work.0,
        &[
            ("OLD", conn(&old.target)),
            ("NEW", conn(&new.target)),
            ("NEW_BIN", new_bin.display().to_string()),
        ],
    );
    let (at, _, shown) = doc_block("move-dump-restore");
    assert!(ok, "{at}: the commands failed:\n{printed}");
    assert_eq!(
        printed, shown,
        "{at}: the commands print exactly what the docs show (nothing else: no other error or warning)"
    );
    check_moved(&new.target, &source, "dump/restore", false).await;
}

/// Whether the old version stamps the attribute option pg_attver on every
/// column (a quirk of this machine's PostgreSQL 15 build, which PostgreSQL 18
/// rejects): the number of support columns carrying it.
async fn pg_attver_columns(c: &Client) -> i64 {
    c.query_one(
        "SELECT count(*) FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
          WHERE c.relnamespace = 'support'::regnamespace \
            AND pg_catalog.array_to_string(a.attoptions, ',') LIKE '%pg_attver=%'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// The pg_upgrade logs of the new data directory, concatenated.
fn upgrade_logs(data: &str) -> String {
    let mut text = String::new();
    let Ok(runs) = std::fs::read_dir(format!("{data}/pg_upgrade_output.d")) else {
        return text;
    };
    for run_dir in runs.flatten() {
        if let Ok(logs) = std::fs::read_dir(run_dir.path().join("log")) {
            for log in logs.flatten() {
                text.push_str(&std::fs::read_to_string(log.path()).unwrap_or_default());
            }
        }
    }
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_upgrade_to_the_new_version() {
    let Some((new_config, new_bin)) = new_version() else {
        return;
    };
    let old = OwnCluster::start_with("cx-upgrade-old", None);
    let source = build_source(&old.target).await;
    let stamped = pg_attver_columns(&connect_to(&old.target, "postgres", DB).await).await;
    old.stop_only();

    let work = WorkDir::new("cx-upgrade");
    let new_dir = format!("{}/new", work.0);
    let free_port = || run(&mut Command::new(pg_test::cluster::script("free_port.sh")));
    let env = vec![
        ("PGBINOLD", pg_bindir().display().to_string()),
        ("PGBINNEW", new_bin.display().to_string()),
        ("PGDATAOLD", format!("{}/data", old.dir)),
        ("PGDATANEW", format!("{new_dir}/data")),
        ("PGPORTOLD", free_port()),
        ("PGPORTNEW", free_port()),
    ];
    std::fs::create_dir(&new_dir).unwrap();
    run(Command::new("chown").args(["postgres:", &new_dir]));
    let (ok, printed) = run_doc_block("pg_upgrade-check", &work.0, &env);
    assert!(ok, "pg_upgrade --check:\n{printed}");
    println!(
        "pg_upgrade --check ({} -> {}): *Clusters are compatible*",
        version_of(&pg_bindir()),
        version_of(&new_bin)
    );

    if stamped > 0 {
        // The documented run fails here for any database, and for exactly
        // this reason: prove it, then say so.
        let (ok, printed) = run_doc_block("pg_upgrade-run", &work.0, &env);
        let logs = upgrade_logs(&format!("{new_dir}/data"));
        assert!(
            !ok && logs.contains("unrecognized parameter \"pg_attver\""),
            "pg_upgrade failed for another reason than this machine's pg_attver:\n{printed}\n{logs}"
        );
        println!(
            "pg_upgrade as documented: SKIPPED on this machine: its {} build stamps the non-standard \
             attribute option pg_attver on every column of every table ({stamped} columns of schema support), \
             pg_upgrade's binary-upgrade dump carries it, and {} rejects it: the run failed with \
             unrecognized parameter \"pg_attver\"",
            version_of(&pg_bindir()),
            version_of(&new_bin)
        );
        // The same run once the stamps are removed from the old catalog (this
        // machine only: a catalog edit no DBA elsewhere needs), to test what
        // pg_upgrade does to the extension here too.
        old.start_again();
        let admin = connect_to(&old.target, "postgres", "postgres").await;
        let dbs: Vec<String> = texts(
            &admin,
            "SELECT datname::text FROM pg_catalog.pg_database WHERE datallowconn",
        )
        .await;
        for db in dbs {
            connect_to(&old.target, "postgres", &db)
                .await
                .batch_execute(
                    "UPDATE pg_catalog.pg_attribute
                        SET attoptions = NULLIF(ARRAY(SELECT o FROM unnest(attoptions) o WHERE o NOT LIKE 'pg_attver=%'), '{}')
                      WHERE pg_catalog.array_to_string(attoptions, ',') LIKE '%pg_attver=%'",
                )
                .await
                .unwrap_or_else(|e| panic!("remove pg_attver in {db}: {e}"));
        }
        assert_eq!(
            pg_attver_columns(&connect_to(&old.target, "postgres", DB).await).await,
            0
        );
        drop(admin);
        old.stop_only();
        std::fs::remove_dir_all(format!("{new_dir}/data")).unwrap();
        let (ok, printed) = run_doc_block("pg_upgrade-check", &work.0, &env);
        assert!(ok, "pg_upgrade --check (stamps removed):\n{printed}");
        println!("pg_upgrade: the documented run again, with the pg_attver stamps removed from the old catalog");
    }
    let (ok, printed) = run_doc_block("pg_upgrade-run", &work.0, &env);
    assert!(
        ok,
        "pg_upgrade:\n{printed}\n{}",
        upgrade_logs(&format!("{new_dir}/data"))
    );
    let new = OwnCluster {
        dir: new_dir.clone(),
        target: Target {
            host: new_dir.clone(),
            port: free_port(),
        },
        pg_config: Some(new_config.clone()),
    };
    new.start_again();
    let (ok, printed) = run_doc_block(
        "pg_upgrade-after",
        &work.0,
        &[
            ("PGBINNEW", new_bin.display().to_string()),
            ("PGHOST", new.target.host.clone()),
            ("PGPORT", new.target.port.clone()),
            ("PGUSER", "postgres".to_string()),
        ],
    );
    assert!(ok, "vacuumdb after pg_upgrade:\n{printed}");
    check_moved(&new.target, &source, "pg_upgrade", true).await;
}
