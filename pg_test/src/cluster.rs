//! Helpers for the adversarial and robustness suites: a seeded random source,
//! connections as any role that keep the server's NOTICEs, error shapes that
//! can be compared after replacing ids, a whole-database checksum, and the
//! server-log crash detector.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio_postgres::{AsyncMessage, Client, NoTls};

/// xorshift64*: a seeded, reproducible source of choices (not cryptography).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that nearby seeds give unrelated streams.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 1 } else { z })
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        (self.next() % n as u64) as usize
    }
    /// true with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.below(hi_inclusive - lo + 1)
    }
    /// A random version-4 UUID in canonical lower-case text.
    pub fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:x}{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            8 + (b >> 62),
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }
    /// `n` random lower-case hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from_digit((self.next() % 16) as u32, 16).unwrap())
            .collect()
    }
    /// An independent stream derived from this one.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next())
    }
}

/// The seed from `var` (decimal or 0x-hex), else `default`.
pub fn seed_from_env(var: &str, default: u64) -> u64 {
    match std::env::var(var) {
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{var}={v:?} is not a number"))
        }
        Err(_) => default,
    }
}

/// A number from an environment variable, else `default`.
pub fn usize_from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| panic!("{var}={v:?} is not a number"))
        })
        .unwrap_or(default)
}

/// Where a cluster listens (unix-socket directory and port).
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub port: String,
}

impl Target {
    /// The cluster started by pg_test/run.sh.
    pub fn from_env() -> Self {
        Target {
            host: std::env::var("CX_PGHOST").expect("CX_PGHOST: run through pg_test/run.sh"),
            port: std::env::var("CX_PGPORT").expect("CX_PGPORT: run through pg_test/run.sh"),
        }
    }
    pub fn conninfo(&self, user: &str, db: &str, application_name: &str) -> String {
        format!(
            "host={} port={} user={user} dbname={db} application_name={application_name}",
            self.host, self.port
        )
    }
    /// The server log of a cluster started by scripts/cluster.sh.
    pub fn server_log(&self) -> String {
        format!("{}/server.log", self.host)
    }
}

/// NOTICE (and WARNING) messages the server sent on one connection, in order.
#[derive(Clone, Default)]
pub struct Notices(Arc<Mutex<Vec<String>>>);

impl Notices {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// Connects as `user` and keeps every notice the server sends. The connection
/// task handles messages in arrival order, so a notice raised by a statement
/// is recorded before that statement's result reaches the caller.
pub async fn connect_as(
    target: &Target,
    user: &str,
    db: &str,
    application_name: &str,
) -> Result<(Client, Notices), tokio_postgres::Error> {
    let (client, mut connection) =
        tokio_postgres::connect(&target.conninfo(user, db, application_name), NoTls).await?;
    let notices = Notices::default();
    let sink = notices.clone();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notice(n)) => {
                    let mut text = n.message().to_string();
                    if let Some(d) = n.detail() {
                        text.push_str(" DETAIL: ");
                        text.push_str(d);
                    }
                    sink.0.lock().unwrap().push(text);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    Ok((client, notices))
}

/// Creates `role` if it does not exist yet (roles are cluster-wide and tests
/// run in parallel), then runs `then` (grants) ignoring "already" notices.
pub async fn ensure_role(admin: &Client, role: &str, options: &str) {
    let _ = admin
        .batch_execute(&format!(
            "DO $$ BEGIN CREATE ROLE {role} {options}; \
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ))
        .await;
}

/// What a statement did: its SQLSTATE ("00000" on success), the rows it
/// returned or affected, and the full shape of its error.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub state: String,
    pub rows: u64,
    pub error: Option<ErrorShape>,
}

impl Outcome {
    pub fn ok(rows: u64) -> Self {
        Outcome {
            state: "00000".into(),
            rows,
            error: None,
        }
    }
    pub fn from_error(e: &tokio_postgres::Error) -> Self {
        let shape = ErrorShape::of(e);
        Outcome {
            state: shape.code.clone(),
            rows: 0,
            error: Some(shape),
        }
    }
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
    pub fn describe(&self) -> String {
        match &self.error {
            None => format!("00000 ({} rows)", self.rows),
            Some(e) => format!("{}: {}", e.code, e.message),
        }
    }
}

/// Every field of an error the server reports, so that two errors can be
/// compared exactly (after replacing the ids they name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorShape {
    pub code: String,
    pub message: String,
    /// code, message, detail, hint, position, context, schema, table,
    /// column, datatype, constraint, file, line, routine.
    pub fields: Vec<String>,
}

impl ErrorShape {
    pub fn of(e: &tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => {
                let opt = |s: Option<&str>| s.unwrap_or("").to_string();
                let position = match db.position() {
                    Some(tokio_postgres::error::ErrorPosition::Original(p)) => format!("{p}"),
                    Some(tokio_postgres::error::ErrorPosition::Internal { position, query }) => {
                        format!("{position} in {query}")
                    }
                    None => String::new(),
                };
                ErrorShape {
                    code: db.code().code().to_string(),
                    message: db.message().to_string(),
                    fields: vec![
                        db.code().code().to_string(),
                        db.message().to_string(),
                        opt(db.detail()),
                        opt(db.hint()),
                        position,
                        opt(db.where_()),
                        opt(db.schema()),
                        opt(db.table()),
                        opt(db.column()),
                        opt(db.datatype()),
                        opt(db.constraint()),
                        opt(db.file()),
                        db.line().map(|l| l.to_string()).unwrap_or_default(),
                        opt(db.routine()),
                    ],
                }
            }
            None => ErrorShape {
                code: "connection".into(),
                message: e.to_string(),
                fields: vec!["connection".into(), e.to_string()],
            },
        }
    }
    /// All fields joined, with each `(needle, placeholder)` replaced.
    pub fn normalized(&self, replacements: &[(&str, &str)]) -> String {
        let mut s = self.fields.join(" | ");
        for (needle, placeholder) in replacements {
            if !needle.is_empty() {
                s = s.replace(needle, placeholder);
            }
        }
        s
    }
}

/// Runs one statement (simple or extended protocol, no parameters) and
/// returns its outcome, counting returned or affected rows.
pub async fn outcome(c: &Client, sql: &str) -> Outcome {
    match c.simple_query(sql).await {
        Ok(messages) => {
            let mut rows = 0u64;
            let mut affected = 0u64;
            for m in messages {
                match m {
                    tokio_postgres::SimpleQueryMessage::Row(_) => rows += 1,
                    tokio_postgres::SimpleQueryMessage::CommandComplete(n) => affected = n,
                    _ => {}
                }
            }
            Outcome::ok(rows.max(affected))
        }
        Err(e) => Outcome::from_error(&e),
    }
}

/// md5 over every row of every support table (as a superuser, who bypasses
/// row-level security): equal before and after means nothing changed.
pub const CHECKSUM_SQL: &str = "SELECT md5(string_agg(t, E'\\n' ORDER BY t)) FROM ( \
       SELECT 'c' || c::text AS t FROM support.conversations c \
     UNION ALL SELECT 'm' || m::text FROM support.conversation_messages m \
     UNION ALL SELECT 'e' || e::text FROM support.conversation_events e \
     UNION ALL SELECT 'w' || w::text FROM support.workspaces w \
     UNION ALL SELECT 'p' || p::text FROM support.workspace_members p \
     UNION ALL SELECT 'u' || u::text FROM support.users u) AS q";

pub async fn checksum(superuser: &Client) -> String {
    superuser
        .query_one(CHECKSUM_SQL, &[])
        .await
        .expect("checksum")
        .get::<_, Option<String>>(0)
        .unwrap_or_default()
}

/// Lines of a server log that show a crash: a backend killed by a signal
/// (the postmaster then restarts every backend), a PANIC, or a failed assertion.
pub fn crash_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| {
            l.contains("terminated by signal")
                || l.contains("PANIC:")
                || l.contains("TRAP:")
                || l.contains("was terminated by exception")
                || l.contains("all server processes terminated; reinitializing")
        })
        .map(|l| l.to_string())
        .collect()
}

/// Shortens an input for a report: its first characters, escaped, and its size.
pub fn preview(s: &str) -> String {
    let head: String = s.chars().take(120).collect();
    if head.len() == s.len() {
        format!("{head:?}")
    } else {
        format!("{head:?}… ({} bytes)", s.len())
    }
}
