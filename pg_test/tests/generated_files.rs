//! The committed generated test files are exactly what their generators write:
//! tests/pg_regress/sql/permissions.sql and expected/permissions.out come from
//! docs/permissions.tsv through scripts/permissions_regress.py (the expected
//! output is the matrix, not a server's answer). Also: every regression file is
//! in the schedule and has its expected output. Needs no server.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn permissions_regression_files_are_generated_from_the_matrix() {
    let out = Command::new("python3")
        .arg(root().join("scripts/permissions_regress.py"))
        .arg("--check")
        .env_remove("CX_PERMISSIONS_TSV")
        .output()
        .expect("run python3 scripts/permissions_regress.py --check");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_check_fails_when_the_matrix_changes() {
    // Control: a matrix with one cell changed is not what is committed.
    let tsv =
        std::fs::read_to_string(root().join("docs/permissions.tsv")).expect("read the matrix");
    let changed = tsv.replacen(
        "lifecycle.claim\tok\tok\tok\t42501",
        "lifecycle.claim\tok\tok\tok\tok",
        1,
    );
    assert_ne!(tsv, changed, "control: the cell to change exists");
    let path =
        std::env::temp_dir().join(format!("cx-permissions-control-{}.tsv", std::process::id()));
    std::fs::write(&path, changed).expect("write the changed matrix");
    let out = Command::new("python3")
        .arg(root().join("scripts/permissions_regress.py"))
        .arg("--check")
        .env("CX_PERMISSIONS_TSV", &path)
        .output()
        .expect("run python3 scripts/permissions_regress.py --check");
    let _ = std::fs::remove_file(&path);
    assert!(
        !out.status.success(),
        "--check accepted a matrix with a changed cell"
    );
}

/// docs/performance.md's two-version tables are bench/versions.py's, from
/// bench/results/ and bench/results/pg18/; a changed figure fails the check.
#[test]
fn performance_md_holds_the_two_version_tables() {
    let check = |doc: Option<&std::path::Path>| {
        let mut cmd = Command::new("python3");
        cmd.arg(root().join("bench/versions.py")).arg("--check");
        match doc {
            Some(d) => cmd.env("CX_PERFORMANCE_MD", d),
            None => cmd.env_remove("CX_PERFORMANCE_MD"),
        };
        cmd.output().expect("run python3 bench/versions.py --check")
    };
    let out = check(None);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Control: one figure of the tables changed.
    let doc = std::fs::read_to_string(root().join("docs/performance.md")).unwrap();
    let (head, rest) = doc.split_once("<!-- versions:begin -->").unwrap();
    let changed = format!(
        "{head}<!-- versions:begin -->{}",
        rest.replacen(" ms", "0 ms", 1)
    );
    assert_ne!(doc, changed, "control: the tables hold a figure to change");
    let path =
        std::env::temp_dir().join(format!("cx-performance-control-{}.md", std::process::id()));
    std::fs::write(&path, changed).unwrap();
    let out = check(Some(&path));
    let _ = std::fs::remove_file(&path);
    assert!(!out.status.success(), "--check accepted a changed figure");
}

#[test]
fn every_regression_file_is_scheduled_and_has_expected_output() {
    let dir = root().join("tests/pg_regress");
    let schedule = std::fs::read_to_string(dir.join("schedule")).expect("read the schedule");
    let scheduled: Vec<String> = schedule
        .lines()
        .filter_map(|l| l.strip_prefix("test:"))
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(dir.join("sql"))
        .expect("read tests/pg_regress/sql")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".sql").map(str::to_string)
        })
        .collect();
    let in_schedule: BTreeSet<String> = scheduled.iter().cloned().collect();
    assert_eq!(
        in_schedule.len(),
        scheduled.len(),
        "a file is scheduled twice: {scheduled:?}"
    );
    assert_eq!(
        files, in_schedule,
        "tests/pg_regress/sql and the schedule differ"
    );
    for name in &files {
        assert!(
            dir.join("expected").join(format!("{name}.out")).is_file(),
            "tests/pg_regress/expected/{name}.out is missing"
        );
    }
}
