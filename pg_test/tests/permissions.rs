//! Issue 8: one permission matrix as the single source of truth.
//!
//! Every cell of docs/permissions.tsv (action x subject) is performed as a
//! real role over a real connection: in a transaction on the fixture of
//! pg_test::matrix::fixture, the subject acts through the application role
//! with a transaction-local identity, the outcome (ok or SQLSTATE) must be the
//! cell's, a refusal must leave the whole database unchanged (md5 over every
//! row of every support table, as the superuser), and an allowed action must
//! change it with its specific effect visible (rows, events with the subject
//! as actor, author_id). Everything is rolled back, so every cell starts from
//! the same state. A `-` cell (not applicable: the staff column, a non-member,
//! holds no claim and wrote no message) is skipped and counted; the plans
//! must agree that exactly those cells have no precondition to set up. Also:
//! docs/permissions.md holds exactly the table that
//! scripts/permissions_table.sh generates from the TSV.

use std::collections::BTreeSet;

use pg_test::matrix::cells::every_cell;
use pg_test::matrix::fixture::*;
use pg_test::matrix::plans::{plan, KNOWN};
use pg_test::matrix::Matrix;

const DB: &str = "cx_permissions";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_cell_of_the_permission_matrix_as_written() {
    let m = Matrix::load();
    let in_tsv: BTreeSet<&str> = m.actions.iter().map(|a| a.id.as_str()).collect();
    let known: BTreeSet<&str> = KNOWN.iter().copied().collect();
    let unknown: Vec<&&str> = in_tsv.difference(&known).collect();
    let missing: Vec<&&str> = known.difference(&in_tsv).collect();
    assert!(
        unknown.is_empty(),
        "docs/permissions.tsv has actions this test does not know: {unknown:?}"
    );
    assert!(
        missing.is_empty(),
        "this test knows actions docs/permissions.tsv lacks: {missing:?}"
    );
    for a in KNOWN {
        assert!(plan(a, &SUBJECTS[0]).is_some(), "no plan for {a}");
    }
    let (c, notes) = build(DB).await;
    for n in &notes {
        println!("permission matrix: fixture: {n}");
    }
    let t = every_cell(&c, "permission matrix").await;
    assert!(
        t.disagreements.is_empty(),
        "cells not as written:\n{}",
        t.disagreements.join("\n")
    );
}

#[test]
fn docs_permissions_md_holds_the_generated_table() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("bash")
        .arg(root.join("scripts/permissions_table.sh"))
        .output()
        .expect("run scripts/permissions_table.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).unwrap();
    let m = Matrix::load();
    let doc = "docs/permissions.md";
    let md = std::fs::read_to_string(root.join(doc)).unwrap_or_else(|e| panic!("{doc}: {e}"));
    let (_, rest) = md
        .split_once("<!-- permissions:begin -->\n")
        .unwrap_or_else(|| panic!("{doc} has <!-- permissions:begin -->"));
    let (table, _) = rest
        .split_once("<!-- permissions:end -->")
        .unwrap_or_else(|| panic!("{doc} has <!-- permissions:end -->"));
    assert_eq!(
        table, generated,
        "{doc} is not the generated table: run scripts/permissions_table.sh --write"
    );
    // One table row per action of the matrix.
    assert_eq!(table.lines().count(), m.actions.len() + 2);
    println!("{doc}: the generated table, {} actions", m.actions.len());
}
