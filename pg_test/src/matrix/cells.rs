//! Every cell of the permission matrix performed on a database holding the fixture of [`super::fixture`]: the engine of pg_test/tests/permissions.rs, also run on a database moved to another PostgreSQL version (pg_test/tests/version_move.rs).
//!
//! In a transaction per cell, the subject acts through the application role
//! with a transaction-local identity; the outcome (ok or SQLSTATE) must be the
//! cell's, a refusal must leave the whole database unchanged (md5 over every
//! row of every support table, as the superuser), and an allowed action must
//! change it with its specific effect visible. Everything is rolled back, so
//! every cell starts from the same state and the database is left as it was.

use tokio_postgres::{Client, SimpleQueryMessage};

use super::fixture::*;
use super::plans::{plan, Plan};
use super::{Matrix, NOT_APPLICABLE};
use crate::checksum::checksum_sql;
use crate::session::error_text;

/// The first column of the first row, and the number of rows returned or affected.
fn first_and_rows(messages: &[SimpleQueryMessage]) -> (Option<String>, Option<String>, u64) {
    let mut first = None;
    let mut second = None;
    let mut rows = 0;
    for m in messages {
        match m {
            SimpleQueryMessage::Row(r) => {
                if rows == 0 {
                    first = r.get(0).map(str::to_string);
                    second = r.try_get(1).ok().flatten().map(str::to_string);
                }
                rows += 1;
            }
            SimpleQueryMessage::CommandComplete(n) => rows = rows.max(*n),
            _ => {}
        }
    }
    (first, second, rows)
}

async fn one_value(c: &Client, sql: &str) -> String {
    let m = c
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", error_text(&e)));
    first_and_rows(&m).0.unwrap_or_default()
}

/// What a run of every cell found.
#[derive(Default)]
pub struct Tally {
    pub cells: usize,
    pub allowed: usize,
    pub refused: usize,
    pub not_applicable: usize,
    pub disagreements: Vec<String>,
}

/// Performs one cell; returns None when it is as written, else what differed.
async fn run_cell(
    c: &Client,
    checksum: &str,
    action: &str,
    s: &Subject,
    p: &Plan,
    cell: &str,
) -> Option<String> {
    c.batch_execute("BEGIN").await.unwrap();
    if !p.setup.is_empty() {
        c.batch_execute(&p.setup)
            .await
            .unwrap_or_else(|e| panic!("{action}: set-up: {e}"));
    }
    let before = one_value(c, checksum).await;
    c.batch_execute(&format!("{} SAVEPOINT cell;", act_as(s.id)))
        .await
        .unwrap();
    let result = c.simple_query(&p.sql).await;
    let (state, returned, message) = match &result {
        Ok(m) => ("ok".to_string(), Some(first_and_rows(m)), String::new()),
        Err(e) => {
            c.batch_execute("ROLLBACK TO SAVEPOINT cell").await.unwrap();
            let db = e.as_db_error();
            let code = e
                .code()
                .map(|c| c.code().to_string())
                .unwrap_or_else(|| "??".into());
            (
                code,
                None,
                db.map(|d| d.message().to_string())
                    .unwrap_or_else(|| e.to_string()),
            )
        }
    };
    c.batch_execute("RESET ROLE").await.unwrap();
    let after = one_value(c, checksum).await;
    let mut problem = None;
    if state != cell {
        let got = match &returned {
            Some((_, _, rows)) => format!("ok ({rows} rows)"),
            None => format!("{state} ({message})"),
        };
        problem = Some(format!("matrix says {cell}, the server said {got}"));
    } else if cell != "ok" {
        if before != after {
            problem = Some("refused, but the database changed".into());
        }
    } else if let Some(truth) = &p.read_truth {
        let (rows, count, _) = returned.unwrap();
        let m = c.simple_query(truth).await.unwrap();
        let (w_rows, w_count, _) = first_and_rows(&m);
        if rows != w_rows || count.as_deref() == Some("0") {
            problem = Some(format!(
                "read {} rows, the superuser sees {} rows in W (must be equal and > 0)",
                count.unwrap_or_default(),
                w_count.unwrap_or_default()
            ));
        } else if before != after {
            problem = Some("a read changed the database".into());
        }
    } else {
        let (new, _, _) = returned.unwrap();
        let effect = p
            .effect
            .as_deref()
            .unwrap()
            .replace("{new}", new.as_deref().unwrap_or(""));
        let visible = one_value(c, &format!("SELECT ({effect})::text")).await;
        if before == after {
            problem = Some("allowed, but the database did not change".into());
        } else if visible != "true" {
            problem = Some(format!("allowed, but its effect is not visible: {effect}"));
        }
    }
    c.batch_execute("ROLLBACK").await.unwrap();
    problem
}

/// Performs every cell of docs/permissions.tsv on `c` (a superuser connection
/// to a database holding the fixture), prints what it found under `label`
/// and returns the tally: the caller asserts there is no disagreement.
pub async fn every_cell(c: &Client, label: &str) -> Tally {
    let m = Matrix::load();
    let (checksum, tables) = checksum_sql(c).await;
    for t in [
        "jwt_keys",
        "member_events",
        "conversation_events",
        "workspace_members",
    ] {
        assert!(
            tables.iter().any(|x| x == t),
            "checksum covers {t}: {tables:?}"
        );
    }
    println!("{label}: checksum over {} tables: {tables:?}", tables.len());
    // Each subject is the column it plays (staff, not a member of W, act there as viewers).
    for s in SUBJECTS {
        let role = one_value(
            c,
            &format!(
                "BEGIN; {} SELECT support.workspace_role('{W}'); ",
                act_as(s.id)
            ),
        )
        .await;
        c.batch_execute("ROLLBACK").await.unwrap();
        assert_eq!(
            role, s.plays,
            "support.workspace_role(W) as the {} subject",
            s.name
        );
        let member = one_value(
            c,
            &format!(
                "SELECT count(*) FROM support.workspace_members WHERE workspace_id = '{W}' AND user_id = '{}'",
                s.id
            ),
        )
        .await;
        assert_eq!(
            member,
            if s.member { "1" } else { "0" },
            "the {} subject is a member of W: {}",
            s.name,
            s.member
        );
    }
    let mut t = Tally::default();
    for a in &m.actions {
        for (i, s) in SUBJECTS.iter().enumerate() {
            assert_eq!(super::SUBJECTS[i], s.name);
            let cell = a.cells[i].as_str();
            t.cells += 1;
            let p = plan(&a.id, s);
            let p = match (cell, p) {
                (NOT_APPLICABLE, None) => {
                    t.not_applicable += 1;
                    continue;
                }
                (NOT_APPLICABLE, Some(_)) => {
                    let line = format!(
                        "{} x {}: matrix says - (not applicable), but the subject has what the action needs",
                        a.id, s.name
                    );
                    eprintln!("DISAGREEMENT: {line}");
                    t.disagreements.push(line);
                    continue;
                }
                (_, None) => {
                    let line = format!(
                        "{} x {}: matrix says {cell}, but the subject cannot have what the action needs (-)",
                        a.id, s.name
                    );
                    eprintln!("DISAGREEMENT: {line}");
                    t.disagreements.push(line);
                    continue;
                }
                (_, Some(p)) => p,
            };
            match run_cell(c, &checksum, &a.id, s, &p, cell).await {
                None if cell == "ok" => t.allowed += 1,
                None => t.refused += 1,
                Some(p) => {
                    let line = format!("{} x {}: {p}", a.id, s.name);
                    eprintln!("DISAGREEMENT: {line}");
                    t.disagreements.push(line);
                }
            }
        }
    }
    println!(
        "{label}: {} actions x {} subjects = {} cells: {} as written ({} allowed with their effect, \
         {} refused with the database unchanged), {} not applicable (-), {} disagreements",
        m.actions.len(),
        SUBJECTS.len(),
        t.cells,
        t.allowed + t.refused,
        t.allowed,
        t.refused,
        t.not_applicable,
        t.disagreements.len()
    );
    t
}
