//! The runnable examples of the Markdown docs: code blocks with their shown
//! output, run through psql on the test cluster (pg_test/tests/docs_sources.rs
//! on one server, pg_test/tests/citus_cluster.rs on a Citus cluster).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The checkout's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `p` relative to the checkout, for messages.
pub fn rel(p: &Path) -> String {
    p.strip_prefix(root())
        .unwrap_or(p)
        .display()
        .to_string()
        .trim_start_matches("../")
        .to_string()
}

/// psql of the PostgreSQL that scripts/pg_env.sh finds.
pub fn psql_path() -> PathBuf {
    let out = Command::new("bash")
        .arg(root().join("scripts/pg_env.sh"))
        .arg("PG_BINDIR")
        .output()
        .expect("run scripts/pg_env.sh");
    assert!(
        out.status.success(),
        "scripts/pg_env.sh PG_BINDIR: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("psql")
}

/// psql as the superuser on the test cluster, `sql` on stdin, stdout and
/// stderr merged in order. Returns (success, output).
pub fn psql(db: &str, args: &[&str], sql: &str) -> (bool, String) {
    let host = std::env::var("CX_PGHOST").expect("CX_PGHOST: run through pg_test/run.sh");
    let port = std::env::var("CX_PGPORT").expect("CX_PGPORT: run through pg_test/run.sh");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("exec \"$@\" 2>&1")
        .arg("sh")
        .arg(psql_path())
        .args([
            "-X", "-q", "-h", &host, "-p", &port, "-U", "postgres", "-d", db,
        ])
        .args(args)
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn psql");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(sql.as_bytes()).expect("write to psql");
    }
    let out = child.wait_with_output().expect("psql");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// One runnable block (```sql, ```sql citus, or a named ```sh NAME block of
/// commands): where it is, its text, and the output shown after it.
pub struct Example {
    pub at: String,
    pub sql: String,
    pub output: Option<String>,
}

/// The code blocks of a Markdown file whose info string is `kind` (```sql
/// for the examples every server runs, ```sql citus for those that need a
/// Citus cluster), each with the ```text output block that follows it (only
/// blank lines between).
pub fn examples(path: &Path, kind: &str) -> Vec<Example> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", rel(path)));
    let lines: Vec<&str> = text.lines().collect();
    let mut found: Vec<Example> = Vec::new();
    let mut i = 0;
    // The last sql block (of any kind) and the line its fence closed on, with
    // its index in `found` when it is of the kind asked for.
    let mut last_sql: Option<(Option<usize>, usize)> = None;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        if let Some(info) = fence.strip_prefix("```") {
            let info = info.trim().to_string();
            let start = i;
            i += 1;
            let mut body = Vec::new();
            while i < lines.len() && lines[i].trim_start() != "```" {
                body.push(lines[i]);
                i += 1;
            }
            assert!(
                i < lines.len(),
                "{}:{}: unclosed code block",
                rel(path),
                start + 1
            );
            let body = body.join("\n") + "\n";
            if info == kind {
                found.push(Example {
                    at: format!("{}:{}", rel(path), start + 1),
                    sql: body,
                    output: None,
                });
                last_sql = Some((Some(found.len() - 1), i));
            } else if info == "sql" || info.starts_with("sql ") || info.starts_with("sh ") {
                last_sql = Some((None, i)); // an example of another kind
            } else if info == "text output" {
                let follows = last_sql
                    .filter(|(_, end)| lines[end + 1..start].iter().all(|l| l.trim().is_empty()));
                let Some((idx, _)) = follows else {
                    panic!(
                        "{}:{}: a ```text output block must follow a runnable block (```sql, ```sh NAME)",
                        rel(path),
                        start + 1
                    )
                };
                if let Some(idx) = idx {
                    found[idx].output = Some(body);
                }
                last_sql = None;
            } else {
                last_sql = None;
            }
        }
        i += 1;
    }
    found
}

/// The SQLSTATEs of the `-- ERROR <SQLSTATE>` marks, in order.
pub fn expected_errors(sql: &str) -> Vec<String> {
    let mut codes = Vec::new();
    for line in sql.lines() {
        let mut rest = line;
        while let Some(pos) = rest.find("-- ERROR ") {
            let code: String = rest[pos + 9..].chars().take(5).collect();
            if code.len() == 5
                && code
                    .chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            {
                codes.push(code);
            }
            rest = &rest[pos + 9..];
        }
    }
    codes
}

/// psql's verbose output turned into what default verbosity shows, and the
/// SQLSTATEs of the errors, in order.
pub fn normalise(raw: &str) -> (String, Vec<String>) {
    let mut codes = Vec::new();
    let mut out = Vec::new();
    for line in raw.lines() {
        if line.starts_with("LOCATION:  ") {
            continue;
        }
        let mut shown = line.trim_end().to_string();
        for level in ["ERROR", "WARNING", "NOTICE", "INFO"] {
            let prefix = format!("{level}:  ");
            if let Some(rest) = line.strip_prefix(&prefix) {
                let code = &rest[..rest.len().min(5)];
                if rest.len() > 7
                    && &rest[5..7] == ": "
                    && code
                        .chars()
                        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
                {
                    if level == "ERROR" {
                        codes.push(code.to_string());
                    }
                    shown = format!("{prefix}{}", rest[7..].trim_end());
                }
            }
        }
        out.push(shown);
    }
    while out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    (out.join("\n"), codes)
}

/// `text` without trailing blanks and blank last lines.
pub fn trimmed(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}
