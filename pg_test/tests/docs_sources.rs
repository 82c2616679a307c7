//! The documentation is checked like code.
//!
//! - `docs/api.md` is the one source of the public functions' catalog
//!   comments: `scripts/catalog_comments.py --check` (the generated
//!   `sql/95_comments.sql` agrees with it), and a fresh install's catalog has
//!   exactly those comments and the documented signatures, and every function
//!   an application role can execute is documented.
//! - Every ```sql block of README.md and docs/*.md runs, in a fresh copy of
//!   the database made by docs/examples/setup.sql, through psql as the
//!   superuser. A statement marked `-- ERROR <SQLSTATE>` must fail with that
//!   SQLSTATE, every other statement must succeed, and a ```text output block
//!   right after the example must be its exact psql output.
//! - No commit hashes in the docs.
//!
//! Needs the cluster of pg_test/run.sh (CX_PGHOST, CX_PGPORT) with the
//! extension installed, and psql (found by scripts/pg_env.sh).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use pg_test::doc_examples::{examples, expected_errors, normalise, psql, rel, root, trimmed};

const TEMPLATE: &str = "cx_docs_template";
const EXAMPLE_DB: &str = "app";
const CATALOG_DB: &str = "cx_docs_catalog";

/// The Markdown files whose examples run: README.md, then docs/*.md.
fn doc_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    files.insert(0, root().join("README.md"));
    files.push(root().join("CHANGELOG.md"));
    files.retain(|p| p.exists());
    files
}

/// Runs `sql` and panics with psql's output when anything fails.
fn psql_ok(db: &str, sql: &str) -> String {
    let (ok, out) = psql(db, &["-v", "ON_ERROR_STOP=1"], sql);
    assert!(ok, "psql -d {db} failed:\n{sql}\n---\n{out}");
    out
}

fn recreate(db: &str, template: Option<&str>) {
    let template = template
        .map(|t| format!(" TEMPLATE {t}"))
        .unwrap_or_default();
    psql_ok(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE);\nCREATE DATABASE {db}{template};\n"),
    );
}

fn drop_db(db: &str) {
    psql_ok(
        "postgres",
        &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE);\n"),
    );
}

/// A database with the extension and the examples' data.
fn setup_database(db: &str) {
    recreate(db, None);
    let setup = std::fs::read_to_string(root().join("docs/examples/setup.sql"))
        .expect("docs/examples/setup.sql");
    psql_ok(db, &setup);
}

#[test]
fn catalog_comments_are_generated_from_api_md() {
    let out = Command::new("python3")
        .arg(root().join("scripts/catalog_comments.py"))
        .arg("--check")
        .output()
        .expect("run scripts/catalog_comments.py --check");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    print!("docs: {text}");
}

/// (regprocedure, comment, documented signature) from docs/api.md.
fn documented_functions() -> Vec<(String, String, String)> {
    let out = Command::new("python3")
        .arg(root().join("scripts/catalog_comments.py"))
        .arg("--tsv")
        .output()
        .expect("run scripts/catalog_comments.py --tsv");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 3, "--tsv line: {l}");
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect()
}

#[test]
fn the_catalog_says_what_api_md_says() {
    setup_database(CATALOG_DB);
    let out = psql_ok(
        CATALOG_DB,
        "\\pset format unaligned\n\\pset tuples_only on\n\\pset fieldsep '\\t'\n\
         SELECT p.oid::regprocedure, \
                'support.' || p.proname || '(' || pg_get_function_arguments(p.oid) || ') RETURNS ' \
                || pg_get_function_result(p.oid), \
                coalesce(replace(obj_description(p.oid, 'pg_proc'), E'\\n', ' '), '<none>'), \
                has_function_privilege('support_app', p.oid, 'EXECUTE') \
           FROM pg_proc AS p WHERE p.pronamespace = 'support'::regnamespace ORDER BY 1;\n",
    );
    drop_db(CATALOG_DB);
    let mut catalog: BTreeMap<String, (String, String, bool)> = BTreeMap::new();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 4, "catalog line: {line}");
        catalog.insert(
            f[0].to_string(),
            (f[1].to_string(), f[2].to_string(), f[3] == "t"),
        );
    }
    let api = std::fs::read_to_string(root().join("docs/api.md")).unwrap();
    let internal: Vec<&str> = api
        .lines()
        .filter_map(|l| l.strip_prefix("<!-- internal: "))
        .flat_map(|l| l.trim_end_matches(" -->").split_whitespace())
        .collect();
    let mut problems = Vec::new();
    let documented = documented_functions();
    for (sig, comment, doc_sig) in &documented {
        match catalog.get(sig) {
            None => problems.push(format!("{sig}: documented in docs/api.md, not installed")),
            Some((real_sig, real_comment, _)) => {
                if doc_sig != real_sig {
                    problems.push(format!(
                        "{sig}: docs/api.md says `{doc_sig}`, the catalog `{real_sig}`"
                    ));
                }
                if comment != real_comment {
                    problems.push(format!(
                        "{sig}: the installed COMMENT differs from docs/api.md:\n  installed: {real_comment}\n  docs/api.md: {comment}"
                    ));
                }
            }
        }
    }
    // Everything an application role can call is documented (or named internal).
    for (sig, (_, _, executable)) in &catalog {
        if *executable
            && !documented.iter().any(|d| &d.0 == sig)
            && !internal.contains(&sig.as_str())
        {
            problems.push(format!(
                "{sig}: executable by application roles, missing from docs/api.md"
            ));
        }
    }
    for i in &internal {
        assert!(
            catalog.contains_key(*i),
            "docs/api.md names {i} internal: not installed"
        );
    }
    println!(
        "docs: {} functions in docs/api.md, {} in the catalog ({} internal)",
        documented.len(),
        catalog.len(),
        internal.len()
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_sql_example_in_the_docs_runs() {
    setup_database(TEMPLATE);
    let mut problems = Vec::new();
    let (mut blocks, mut with_output, mut errors) = (0, 0, 0);
    let files = doc_files();
    for file in &files {
        for ex in examples(file, "sql") {
            blocks += 1;
            recreate(EXAMPLE_DB, Some(TEMPLATE));
            let script = format!(
                "\\set VERBOSITY verbose\n\\set SHOW_CONTEXT never\n{}",
                ex.sql
            );
            let (_, raw) = psql(EXAMPLE_DB, &[], &script);
            let (shown, codes) = normalise(&raw);
            let wanted = expected_errors(&ex.sql);
            errors += wanted.len();
            if codes != wanted {
                problems.push(format!(
                    "{}: SQLSTATEs raised {codes:?}, marked -- ERROR {wanted:?}; psql said:\n{shown}",
                    ex.at
                ));
            }
            if let Some(expected) = &ex.output {
                with_output += 1;
                if trimmed(expected) != shown {
                    problems.push(format!(
                        "{}: the output shown is not psql's.\n--- shown in the docs\n{}\n--- psql\n{shown}",
                        ex.at,
                        trimmed(expected)
                    ));
                }
            }
        }
    }
    drop_db(EXAMPLE_DB);
    drop_db(TEMPLATE);
    println!(
        "docs: {blocks} SQL examples in {} files ran ({with_output} with their output compared, {errors} marked errors), {} problems",
        files.len(),
        problems.len()
    );
    assert!(blocks > 0, "no ```sql blocks found");
    assert!(problems.is_empty(), "\n{}", problems.join("\n\n"));
}

/// A word of 7 to 40 hex digits with both digits and letters that is not
/// part of a UUID or a longer token: what a commit hash looks like.
fn commit_hashes(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_hexdigit() && (i == 0 || !is_word(bytes[i - 1])) {
            let mut j = i;
            while j < bytes.len() && is_word(bytes[j]) {
                j += 1;
            }
            let word = &text[i..j];
            if (7..=40).contains(&word.len())
                && word
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                && word.bytes().any(|b| b.is_ascii_digit())
                && word.bytes().any(|b| b.is_ascii_alphabetic())
            {
                found.push(word.to_string());
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    found
}

#[test]
fn no_commit_hashes_in_the_docs() {
    let mut problems = Vec::new();
    let mut files = doc_files();
    files.push(root().join("bench/README.md"));
    for file in files.iter().filter(|p| p.exists()) {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            for h in commit_hashes(line) {
                problems.push(format!("{}:{}: {h}", rel(file), n + 1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "commit hashes in the docs (describe the behaviour, not the history):\n{}",
        problems.join("\n")
    );
    assert_eq!(
        commit_hashes("commit 1fa145c and a02e4f1"),
        ["1fa145c", "a02e4f1"]
    );
    assert!(commit_hashes("a0000000-0000-4000-8000-00000000acde").is_empty());
}
