//! What the fuzzer saw: outcomes by entry point and SQLSTATE, Rust panics (XX000), unexpected answers and dead connections.

use std::collections::BTreeMap;

use pg_test::outcome::preview;

#[derive(Default)]
pub struct Tally {
    pub inputs: u64,
    pub by_entry: BTreeMap<&'static str, BTreeMap<String, u64>>,
    /// XX000: a Rust panic surfaced as an ERROR.
    pub panics: Vec<String>,
    /// A SQLSTATE the entry point does not document, or a wrong answer.
    pub unexpected: Vec<String>,
    /// The connection died.
    pub crashes: Vec<String>,
}

impl Tally {
    pub fn merge(&mut self, other: Tally) {
        self.inputs += other.inputs;
        for (k, m) in other.by_entry {
            let e = self.by_entry.entry(k).or_default();
            for (s, n) in m {
                *e.entry(s).or_default() += n;
            }
        }
        self.panics.extend(other.panics);
        self.unexpected.extend(other.unexpected);
        self.crashes.extend(other.crashes);
    }
    /// Records one input; returns false when the connection is gone.
    pub fn record<T>(
        &mut self,
        entry: &'static str,
        allowed: &[&str],
        input: &str,
        r: &Result<T, tokio_postgres::Error>,
    ) -> bool {
        self.inputs += 1;
        let (state, message) = match r {
            Ok(_) => ("00000".to_string(), String::new()),
            Err(e) => match e.as_db_error() {
                Some(db) => (db.code().code().to_string(), db.message().to_string()),
                None => ("connection".to_string(), e.to_string()),
            },
        };
        *self
            .by_entry
            .entry(entry)
            .or_default()
            .entry(state.clone())
            .or_default() += 1;
        let what = format!("{entry}: input {} -> {state} {message}", preview(input));
        if state == "connection" {
            self.crashes.push(what);
            return false;
        }
        if state == "XX000" {
            self.panics.push(what);
        } else if !allowed.contains(&state.as_str()) {
            self.unexpected.push(what);
        }
        true
    }
    pub fn wrong(&mut self, what: String) {
        self.unexpected.push(what);
    }
}
