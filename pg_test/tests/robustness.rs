//! Robustness (issue 5, part 5).
//!
//! 1. Seeded random inputs at every Rust entry point reachable from SQL:
//!    support.current_user_id() through each identity setting
//!    (request.jwt.claims, request.jwt.claim.sub, support.user_id: random
//!    UTF-8, huge values, deep JSON, odd numbers and escapes),
//!    member_workspaces(), workspace_member(), every lifecycle function
//!    (random ids, random reasons up to ~1 MB), support.authenticate()
//!    (random, structured, correctly signed and huge tokens) when installed,
//!    lifecycle_pending(), the DROP EXTENSION guard and the identity_mode
//!    setting. Each call must succeed or fail with one of the SQLSTATEs that
//!    entry point documents; an XX000 (a Rust panic turned into an ERROR) is
//!    a finding. A sentinel connection opened first must still work at the
//!    end, and the server log must show no crash. The same probes run in a
//!    LATIN1 database, where text that is not ASCII reaches Rust code.
//!    `CX_FUZZ_ITERATIONS=<n>` sets the number of inputs (default 6000),
//!    `CX_SEED=<n>` the seed, `CX_FUZZ_STRICT=1` fails on any XX000.
//! 2. kill -9 of one backend in the middle of a claim storm, in a cluster of
//!    its own: after the postmaster's crash recovery every lifecycle
//!    invariant holds, no acknowledged change is lost and no unacknowledged
//!    transaction is half there.

mod common;
mod harness;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{fresh_database, set_local_user, APP_ROLE, U1, U2, W1, W2};
use harness::*;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

const DEFAULT_SEED: u64 = 0x5eed_0000_0005_0005;
const FUZZ_DB: &str = "cx_robust_fuzz";
const LATIN1_DB: &str = "cx_robust_latin1";
const HS_SECRET: &str = "robustness-test-secret";

/// Public keys of throwaway key pairs (the private halves were discarded):
/// tokens claiming these algorithms reach signature verification.
const ED25519_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAs5Bs0yzrNejRNdtSgfyxP8R24QCymqk2SKCpfcReBjg=
-----END PUBLIC KEY-----";
const P256_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4rCCK4qBVmL6tzM2hewHx4qMgySZ
n/WXyYAOjpcKiIpjXIz4ydeSj84iybMZ4FA02cZfhSa4zdhAWXZIMnSUOw==
-----END PUBLIC KEY-----";

// ---------------------------------------------------------------- inputs

/// Random text: valid UTF-8, never NUL, from every kind of character, with
/// an occasional huge one (up to ~1 MB).
fn random_text(rng: &mut Rng, allow_huge: bool) -> String {
    let len = match rng.below(100) {
        0..=29 => rng.below(8),
        30..=69 => rng.range(8, 64),
        70..=89 => rng.range(64, 1024),
        90..=97 => rng.range(1024, 16 * 1024),
        _ if allow_huge => rng.range(64 * 1024, 1024 * 1024),
        _ => rng.range(1024, 4096),
    };
    let mut s = String::with_capacity(len);
    // Huge strings repeat a random block so that they are cheap to make.
    let block = len.min(4096);
    while s.len() < block {
        s.push(random_char(rng));
    }
    while s.len() < len {
        let take = (len - s.len()).min(block);
        let cut = (0..=take).rev().find(|&i| s.is_char_boundary(i)).unwrap();
        let chunk = s[..cut].to_string();
        if chunk.is_empty() {
            break;
        }
        s.push_str(&chunk);
    }
    s
}

fn random_char(rng: &mut Rng) -> char {
    const SPECIAL: &[char] = &[
        '"',
        '\\',
        '{',
        '}',
        '[',
        ']',
        ':',
        ',',
        '\'',
        '$',
        '%',
        ' ',
        '\t',
        '\n',
        '\r',
        '.',
        '-',
        '=',
        '/',
        '+',
        '\u{feff}',
        '\u{202e}',
        '\u{0300}',
        '\u{fffd}',
        '\u{ffff}',
        '\u{2028}',
        '\u{00a0}',
        '\u{3000}',
        '\u{1f600}',
        '\u{10ffff}',
    ];
    let pick = |rng: &mut Rng, lo: u32, hi: u32| -> char {
        loop {
            let c = lo + (rng.next() % (hi - lo + 1) as u64) as u32;
            if let Some(ch) = char::from_u32(c) {
                if ch != '\0' {
                    return ch;
                }
            }
        }
    };
    match rng.below(10) {
        0..=3 => pick(rng, 0x20, 0x7e),
        4 => pick(rng, 0x01, 0x1f),
        5 => pick(rng, 0x80, 0xff),
        6 => pick(rng, 0x100, 0xffff),
        7 => pick(rng, 0x10000, 0x10ffff),
        _ => *rng.pick(SPECIAL),
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_number(rng: &mut Rng) -> String {
    match rng.below(8) {
        0 => format!("{}", rng.next() as i64),
        1 => "1e999999".into(),
        2 => "-0".into(),
        3 => "123456789012345678901234567890123456789".into(),
        4 => format!("{}.{}", rng.below(1000), rng.next()),
        5 => "-1e-999999".into(),
        6 => format!("{}", rng.below(10)),
        _ => "0.0000000000000000000000000000001".into(),
    }
}

fn json_value(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 3 { 4 } else { 7 }) {
        0 => "null".into(),
        1 => if rng.chance(50) { "true" } else { "false" }.into(),
        2 => json_number(rng),
        3 => json_string(&random_text(rng, false)),
        4 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| json_value(rng, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n)
                .map(|_| {
                    let k = json_string(&random_text(rng, false));
                    format!("{k}:{}", json_value(rng, depth + 1))
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

/// What an identity input must give.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Want {
    /// That user (canonical text).
    User(String),
    /// Nobody (NULL).
    Nobody,
    /// 22P02.
    Invalid,
    /// Either success (any user or nobody) or 22P02.
    Any,
    /// That user or 22P02 (a parser may or may not limit nesting it skips).
    UserOrInvalid(String),
}

/// A subject in a random spelling, and the user it must name.
fn random_subject(rng: &mut Rng) -> (String, Want) {
    let u = rng.uuid();
    match rng.below(12) {
        0 => (u.clone(), Want::User(u)),
        1 => (u.to_uppercase(), Want::User(u)),
        2 => (format!("{{{u}}}"), Want::User(u)),
        3 => (format!("urn:uuid:{u}"), Want::User(u)),
        4 => (u.replace('-', ""), Want::User(u)),
        5 => (format!("  {u}\t\n"), Want::User(u)),
        6 => (" \t ".into(), Want::Nobody),
        7 => (u[..35].to_string(), Want::Invalid),
        8 => (format!("{u}x"), Want::Invalid),
        9 => (u.replace('-', "_"), Want::Invalid),
        // Random text: a blank one is nobody, anything else is probably
        // invalid but may happen to be a UUID; any documented outcome.
        _ => (random_text(rng, true), Want::Any),
    }
}

/// A request.jwt.claims value and what it must give.
fn random_claims(rng: &mut Rng) -> (String, Want) {
    let u = rng.uuid();
    match rng.below(16) {
        0 => (
            format!("{{\"sub\":\"{u}\",\"role\":\"authenticated\"}}"),
            Want::User(u),
        ),
        1 => {
            let (sub, want) = random_subject(rng);
            (format!("{{\"sub\":{}}}", json_string(&sub)), want)
        }
        2 => (
            rng.pick(&["{}", "{\"role\":\"anon\"}", "{\"sub\":null}", "  {}  "])
                .to_string(),
            Want::Nobody,
        ),
        3 => (format!("{{\"sub\":{}}}", json_number(rng)), Want::Invalid),
        4 => (
            format!(
                "{{\"sub\":{}}}",
                rng.pick(&["true", "[]", "{}", "[\"x\"]", "{\"sub\":\"x\"}"])
            ),
            Want::Invalid,
        ),
        5 => {
            // Deep nesting in a claim nobody reads (up to 400,000 levels).
            let depth = *rng.pick(&[1usize, 10, 100, 127, 129, 1000, 100_000, 400_000]);
            let nest = "[".repeat(depth) + &"]".repeat(depth);
            let want = if depth <= 120 {
                Want::User(u.clone())
            } else {
                Want::UserOrInvalid(u.clone())
            };
            (format!("{{\"extra\":{nest},\"sub\":\"{u}\"}}"), want)
        }
        6 => {
            let depth = *rng.pick(&[200usize, 5000, 300_000]);
            ("{\"sub\":".to_string() + &"{".repeat(depth), Want::Invalid)
        }
        7 => (random_text(rng, true), Want::Any),
        8 => (
            rng.pick(&[
                "{\"sub\":\"",
                "{\"sub\" \"x\"}",
                "{'sub':'x'}",
                "{\"sub\":\"x\"} trailing",
                "/* c */ {\"sub\":\"x\"}",
                "\u{feff}{}",
                "{\"sub\":\"\\ud800\"}",
                "{\"sub\":\"\\u0000\"}",
                "{\"sub\":\"\\q\"}",
                "nul",
                "\"just a string\"",
            ])
            .to_string(),
            Want::Invalid,
        ),
        9 => (
            format!("{{\"sub\":\"{u}\",\"sub\":\"{}\"}}", rng.uuid()),
            Want::Invalid,
        ),
        10 => {
            let pad = random_text(rng, true);
            (
                format!("{{\"pad\":{},\"sub\":\"{u}\"}}", json_string(&pad)),
                Want::User(u),
            )
        }
        11 => {
            // The subject spelled with JSON escapes.
            let escaped: String = u.chars().map(|c| format!("\\u{:04x}", c as u32)).collect();
            (format!("{{\"sub\":\"{escaped}\"}}"), Want::User(u))
        }
        12 => (format!("[\"{u}\"]"), Want::Any),
        13 => (json_number(rng), Want::Invalid),
        14 => (
            format!("{{\"sub\":\"{u}\",\"x\":{}}}", json_value(rng, 0)),
            Want::User(u),
        ),
        _ => (json_value(rng, 0), Want::Any),
    }
}

fn lenient(want: Want) -> Want {
    match want {
        Want::User(u) => Want::UserOrInvalid(u),
        other => other,
    }
}

fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        if chunk.len() > 1 {
            out.push(A[(n >> 6) as usize & 63] as char);
        }
        if chunk.len() > 2 {
            out.push(A[n as usize & 63] as char);
        }
    }
    out
}

fn base64url_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        } as u32)
    };
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next() as u8).collect()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A token (header.payload, signature decided by the caller) and what
/// authenticate() must give if it is correctly signed.
fn random_token_parts(rng: &mut Rng) -> (String, String, Want) {
    let kids = [
        "k-hs256",
        "k-hs512",
        "k-ed",
        "k-es",
        "k-bad-pem",
        "k-inactive",
        "k-missing",
    ];
    let algs = [
        "HS256", "HS384", "HS512", "EdDSA", "ES256", "RS256", "PS512", "none", "", "hs256",
    ];
    let mut header = vec![];
    if rng.chance(90) {
        let alg = *rng.pick(&algs);
        header.push(format!("\"alg\":{}", json_string(alg)));
    }
    if rng.chance(85) {
        let kid = match rng.below(10) {
            0 => random_text(rng, false),
            1 => "x".repeat(rng.range(1000, 70_000)),
            2 => "\u{0}".into(),
            _ => rng.pick(&kids).to_string(),
        };
        header.push(format!("\"kid\":{}", json_string(&kid)));
    }
    if rng.chance(50) {
        header.push("\"typ\":\"JWT\"".into());
    }
    if rng.chance(10) {
        header.push(format!("\"x\":{}", json_value(rng, 0)));
    }
    let header = format!("{{{}}}", header.join(","));
    let u = rng.uuid();
    let now = now_secs();
    let mut claims = vec![];
    let mut want = Want::User(u.clone());
    match rng.below(8) {
        0 => {
            claims.push(format!("\"sub\":{}", json_value(rng, 0)));
            want = Want::Any;
        }
        1 => want = Want::Invalid, // no sub
        _ => claims.push(format!("\"sub\":\"{u}\"")),
    }
    match rng.below(8) {
        0 => want = Want::Invalid, // no exp
        1 => {
            claims.push(format!("\"exp\":{}", now - 3600));
            want = Want::Invalid;
        }
        2 => {
            claims.push(format!("\"exp\":{}", json_value(rng, 0)));
            want = Want::Any;
        }
        3 => {
            claims.push(format!("\"exp\":{}", json_number(rng)));
            want = Want::Any;
        }
        _ => claims.push(format!("\"exp\":{}", now + 3600)),
    }
    match rng.below(8) {
        0 => {
            claims.push(format!("\"nbf\":{}", now + 3600));
            want = Want::Invalid;
        }
        1 => {
            claims.push(format!("\"nbf\":{}", json_value(rng, 0)));
            want = Want::Any;
        }
        2 => claims.push(format!("\"nbf\":{}", now - 3600)),
        _ => {}
    }
    // Odd aud/iss values (no key here requires them) may be ignored or make
    // the token malformed: both are acceptable, never another user.
    if rng.chance(15) {
        claims.push(format!("\"aud\":{}", json_value(rng, 0)));
        want = lenient(want);
    }
    if rng.chance(15) {
        claims.push(format!("\"iss\":{}", json_value(rng, 0)));
        want = lenient(want);
    }
    if rng.chance(5) {
        claims.push(format!("\"pad\":{}", json_string(&random_text(rng, true))));
    }
    let payload = format!("{{{}}}", claims.join(","));
    (header, payload, want)
}

// ---------------------------------------------------------------- tally

#[derive(Default)]
struct Tally {
    inputs: u64,
    by_entry: BTreeMap<&'static str, BTreeMap<String, u64>>,
    /// XX000: a Rust panic surfaced as an ERROR.
    panics: Vec<String>,
    /// A SQLSTATE the entry point does not document, or a wrong answer.
    unexpected: Vec<String>,
    /// The connection died.
    crashes: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
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
    fn record<T>(
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
    fn wrong(&mut self, what: String) {
        self.unexpected.push(what);
    }
}

fn db_error_state(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| "connection".into())
}

// ---------------------------------------------------------------- fuzz

struct Fuzz {
    app: Client,
    su: Client,
    rng: Rng,
    tally: Tally,
    conversations: Vec<String>,
    members: Vec<String>,
    has_authenticate: bool,
    has_keys: bool,
    has_guard: bool,
    has_identity_mode: bool,
}

impl Fuzz {
    /// set_config(name, value, true) then `probe` as the application role,
    /// rolled back. Returns the first column of `probe` or the error.
    async fn with_setting(
        &mut self,
        name: &str,
        value: &str,
        probe: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<String>, tokio_postgres::Error> {
        self.app.batch_execute("BEGIN").await?;
        let r = async {
            self.app
                .query("SELECT set_config($1, $2, true)", &[&name, &value])
                .await?;
            let rows = self.app.query(probe, params).await?;
            Ok(rows.first().and_then(|r| r.get::<_, Option<String>>(0)))
        }
        .await;
        let _ = self.app.batch_execute("ROLLBACK").await;
        r
    }

    async fn identity_setting(
        &mut self,
        entry: &'static str,
        name: &str,
        value: &str,
        want: Want,
    ) -> bool {
        let ws = if self.rng.chance(50) {
            W1.to_string()
        } else {
            self.rng.uuid()
        };
        let probe = "SELECT support.current_user_id()::text, \
                            coalesce(pg_catalog.array_length(support.member_workspaces(), 1), 0), \
                            support.workspace_member($1::text::uuid), \
                            (SELECT count(*) FROM support.conversations)";
        let r = self.with_setting(name, value, probe, &[&ws]).await;
        let input = format!("{name} = {value}");
        let alive = self.tally.record(entry, &["00000", "22P02"], &input, &r);
        match (&want, &r) {
            (Want::User(u), Ok(Some(got))) if got == u => {}
            (Want::UserOrInvalid(u), Ok(Some(got))) if got == u => {}
            (Want::UserOrInvalid(_), Err(e)) if db_error_state(e) == "22P02" => {}
            (Want::Nobody, Ok(None)) => {}
            (Want::Invalid, Err(e)) if db_error_state(e) == "22P02" => {}
            (Want::Any, _) => {}
            _ => self.tally.wrong(format!(
                "{entry}: input {} must give {want:?}, gave {:?}",
                preview(&input),
                r.as_ref().map_err(db_error_state)
            )),
        }
        alive
    }

    async fn lifecycle(&mut self) -> bool {
        let rng = &mut self.rng;
        let id = match rng.below(10) {
            0..=5 => rng.pick(&self.conversations).clone(),
            6 => "00000000-0000-0000-0000-000000000000".into(),
            7 => "ffffffff-ffff-ffff-ffff-ffffffffffff".into(),
            _ => rng.uuid(),
        };
        let who = match rng.below(10) {
            0..=6 => format!("{{\"sub\":\"{}\"}}", rng.pick(&self.members)),
            7 => format!("{{\"sub\":\"{}\"}}", rng.uuid()),
            8 => random_claims(rng).0,
            _ => String::new(),
        };
        let reason: Option<String> = if rng.chance(80) {
            Some(random_text(rng, true))
        } else {
            None
        };
        let other = if rng.chance(70) {
            rng.pick(&self.members).clone()
        } else {
            rng.uuid()
        };
        let ws = if rng.chance(70) {
            W1.to_string()
        } else {
            rng.uuid()
        };
        let null_id = rng.chance(3);
        let (entry, sql): (&'static str, &str) = match rng.below(7) {
            0 => ("escalate_conversation", "SELECT x.id::text FROM support.escalate_conversation($1::text::uuid, $2::text) x"),
            1 => ("claim_conversation", "SELECT x.id::text FROM support.claim_conversation($1::text::uuid) x"),
            2 => ("claim_next_conversation", "SELECT x.id::text FROM support.claim_next_conversation($4::text::uuid) x"),
            3 => ("release_conversation", "SELECT x.id::text FROM support.release_conversation($1::text::uuid) x"),
            4 => ("transfer_conversation", "SELECT x.id::text FROM support.transfer_conversation($1::text::uuid, $3::text::uuid) x"),
            5 => ("resolve_conversation", "SELECT x.id::text FROM support.resolve_conversation($1::text::uuid) x"),
            _ => ("reopen_conversation", "SELECT x.id::text FROM support.reopen_conversation($1::text::uuid) x"),
        };
        let commit = rng.chance(50);
        let id_param: Option<String> = (!null_id).then_some(id.clone());
        let r: Result<(), tokio_postgres::Error> = async {
            self.app.batch_execute("BEGIN").await?;
            self.app
                .query("SELECT set_config('request.jwt.claims', $1, true)", &[&who])
                .await?;
            // Every parameter is mentioned so that its type is known.
            let sql = format!("{sql} WHERE $1::text IS NULL OR $2::text IS NULL OR $3::text IS NOT NULL OR $4::text IS NOT NULL");
            self.app.query(sql.as_str(), &[&id_param, &reason, &other, &ws]).await?;
            Ok(())
        }
        .await;
        let end = if commit && r.is_ok() {
            "COMMIT"
        } else {
            "ROLLBACK"
        };
        let _ = self.app.batch_execute(end).await;
        let input = format!(
            "id {id_param:?}, as {}, reason {}, other {other}, workspace {ws}",
            preview(&who),
            reason
                .as_deref()
                .map(preview)
                .unwrap_or_else(|| "NULL".into())
        );
        self.tally.record(
            entry,
            &[
                "00000", "P0002", "55000", "55006", "42501", "22023", "28000", "22P02",
            ],
            &input,
            &r,
        )
    }

    async fn membership(&mut self) -> bool {
        let ws = match self.rng.below(4) {
            0 => W1.to_string(),
            1 => W2.to_string(),
            _ => self.rng.uuid(),
        };
        let who = if self.rng.chance(70) {
            format!("{{\"sub\":\"{}\"}}", self.rng.pick(&self.members))
        } else {
            random_claims(&mut self.rng).0
        };
        let r = self
            .with_setting(
                "request.jwt.claims",
                &who,
                "SELECT support.workspace_member($1::text::uuid)::text || pg_catalog.array_to_string(support.member_workspaces(), ',')",
                &[&ws],
            )
            .await;
        self.tally.record(
            "workspace_member/member_workspaces",
            &["00000", "22P02"],
            &format!("{ws} as {who}"),
            &r,
        )
    }

    /// HS256 signature of `signing_input`, computed by the server's sha256()
    /// (HMAC from its definition; no cryptography in the test itself).
    async fn hs256(&self, signing_input: &str) -> Result<String, tokio_postgres::Error> {
        let mut key = HS_SECRET.as_bytes().to_vec();
        key.resize(64, 0);
        let ipad: Vec<u8> = key.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = key.iter().map(|b| b ^ 0x5c).collect();
        let mut inner = ipad;
        inner.extend_from_slice(signing_input.as_bytes());
        let row = self
            .su
            .query_one(
                "SELECT sha256($2::bytea || sha256($1::bytea))",
                &[&inner, &opad],
            )
            .await?;
        Ok(base64url(&row.get::<_, Vec<u8>>(0)))
    }

    async fn authenticate(&mut self) -> bool {
        let rng = &mut self.rng;
        let (token, want) = match rng.below(10) {
            0 => (random_text(rng, true), Want::Invalid),
            1 => {
                let n = rng.range(1, 6);
                let parts: Vec<String> = (0..n)
                    .map(|_| {
                        let len = rng.below(300);
                        base64url(&random_bytes(rng, len))
                    })
                    .collect();
                (parts.join("."), Want::Invalid)
            }
            2 => (
                format!(
                    "{}.{}.{}",
                    base64url(&random_bytes(rng, 40)),
                    base64url(&random_bytes(rng, 600_000)),
                    base64url(&random_bytes(rng, 32))
                ),
                Want::Invalid,
            ),
            3 => (
                rng.pick(&[
                    "",
                    ".",
                    "..",
                    "...",
                    " . . ",
                    "a.b.c",
                    "e30.e30.",
                    "e30.e30.e30",
                    "bnVsbA.bnVsbA.",
                    "\n\t",
                ])
                .to_string(),
                Want::Invalid,
            ),
            4..=6 => {
                // Structured header and claims, random signature.
                let (h, p, _) = random_token_parts(rng);
                let sig_len = *rng.pick(&[0usize, 1, 32, 64, 65, 512]);
                let sig = base64url(&random_bytes(rng, sig_len));
                (
                    format!(
                        "{}.{}.{sig}",
                        base64url(h.as_bytes()),
                        base64url(p.as_bytes())
                    ),
                    Want::Invalid,
                )
            }
            _ => {
                // Correctly signed with the HS256 key: the claims decide.
                let (_, p, want) = random_token_parts(rng);
                let h = if rng.chance(80) {
                    "{\"alg\":\"HS256\",\"kid\":\"k-hs256\",\"typ\":\"JWT\"}"
                } else {
                    "{\"alg\":\"HS256\",\"kid\":\"k-hs512\"}"
                };
                let wrong_key = h.contains("k-hs512");
                let input = format!("{}.{}", base64url(h.as_bytes()), base64url(p.as_bytes()));
                match self.hs256(&input).await {
                    Ok(sig) => {
                        let token = if self.rng.chance(10) {
                            format!("  {input}.{sig}\n")
                        } else {
                            format!("{input}.{sig}")
                        };
                        (
                            token,
                            if wrong_key || !self.has_keys {
                                Want::Invalid
                            } else {
                                want
                            },
                        )
                    }
                    Err(e) => {
                        self.tally.crashes.push(format!("signing: {e}"));
                        return false;
                    }
                }
            }
        };
        let r: Result<Option<String>, tokio_postgres::Error> = async {
            self.app.batch_execute("BEGIN").await?;
            let row = self
                .app
                .query_one("SELECT support.authenticate($1)::text", &[&token])
                .await?;
            let user: Option<String> = row.get(0);
            let now: Option<String> = self
                .app
                .query_one("SELECT support.current_user_id()::text", &[])
                .await?
                .get(0);
            if user != now {
                return Ok(Some(format!("MISMATCH {user:?} {now:?}")));
            }
            Ok(user)
        }
        .await;
        let _ = self.app.batch_execute("ROLLBACK").await;
        let alive = self
            .tally
            .record("authenticate", &["00000", "28000", "22023"], &token, &r);
        let state = r.as_ref().map_err(db_error_state);
        let ok = match (&want, &state) {
            (Want::User(u) | Want::UserOrInvalid(u), Ok(Some(got))) => got == u,
            (Want::Invalid | Want::UserOrInvalid(_), Err(s)) => s == "28000" || s == "22023",
            (Want::Any, Ok(Some(got))) => !got.starts_with("MISMATCH"),
            (Want::Any, Err(_)) => true,
            _ => false,
        };
        if !ok {
            let message = r
                .as_ref()
                .err()
                .and_then(|e| e.as_db_error())
                .map(|d| d.message().to_string())
                .unwrap_or_default();
            let payload = token.split('.').nth(1).unwrap_or("");
            self.tally.wrong(format!(
                "authenticate: token {} (payload {}) must give {want:?}, gave {state:?} {message}",
                preview(&token),
                preview(&String::from_utf8_lossy(&base64url_decode(payload)))
            ));
        }
        alive
    }

    async fn superuser_entry(&mut self) -> bool {
        let rng = &mut self.rng;
        match rng.below(3) {
            0 => {
                let id = if rng.chance(50) {
                    rng.pick(&self.conversations).clone()
                } else {
                    rng.uuid()
                };
                let r = self
                    .su
                    .query_one(
                        "SELECT support.lifecycle_pending($1::text::uuid)::text",
                        &[&id],
                    )
                    .await;
                if let Ok(row) = &r {
                    if row.get::<_, Option<String>>(0).is_some() {
                        self.tally.wrong(format!(
                            "lifecycle_pending({id}) outside a lifecycle call is not NULL"
                        ));
                    }
                }
                self.tally.record("lifecycle_pending", &["00000"], &id, &r)
            }
            1 if self.has_guard => {
                let ident = random_text(rng, false).replace('"', "\"\"");
                let stmt = match rng.below(5) {
                    0 => format!("DROP EXTENSION IF EXISTS \"{ident}\""),
                    1 => "DROP EXTENSION conversations_ext".to_string(),
                    2 => format!("DROP EXTENSION IF EXISTS \"{ident}\", conversations_ext CASCADE"),
                    3 => format!("DROP EXTENSION \"{ident}\" RESTRICT"),
                    _ => format!("DROP EXTENSION IF EXISTS conversations_ext, \"{ident}\""),
                };
                let r = async {
                    self.su.batch_execute("BEGIN").await?;
                    self.su.batch_execute(&stmt).await
                }
                .await;
                let _ = self.su.batch_execute("ROLLBACK").await;
                if stmt.contains("conversations_ext") && r.is_ok() {
                    self.tally
                        .wrong(format!("drop guard let `{}` through", preview(&stmt)));
                }
                self.tally.record(
                    "drop guard",
                    &["00000", "2BP01", "42704", "42601", "22021", "54000"],
                    &stmt,
                    &r,
                )
            }
            _ if self.has_identity_mode => {
                let value = match rng.below(4) {
                    0 => "verified".to_string(),
                    1 => "claims".to_string(),
                    2 => rng
                        .pick(&["VERIFIED", "Claims", "", " verified", "on", "1"])
                        .to_string(),
                    _ => random_text(rng, false),
                };
                let quoted = value.replace('\'', "''");
                let r: Result<Option<String>, tokio_postgres::Error> = async {
                    self.su.batch_execute("BEGIN").await?;
                    self.su
                        .batch_execute(&format!(
                            "SET LOCAL support.identity_mode = '{quoted}'; \
                             SET LOCAL request.jwt.claims = '{{\"sub\":\"{U1}\"}}'"
                        ))
                        .await?;
                    // current_user_id() first: it loads the library, which
                    // replaces a placeholder value set before the load.
                    let who: Option<String> = self
                        .su
                        .query_one("SELECT support.current_user_id()::text", &[])
                        .await?
                        .get(0);
                    let mode: String = self
                        .su
                        .query_one("SHOW support.identity_mode", &[])
                        .await?
                        .get(0);
                    Ok(Some(format!("{mode}:{}", who.unwrap_or_default())))
                }
                .await;
                let _ = self.su.batch_execute("ROLLBACK").await;
                if let Ok(Some(got)) = &r {
                    let ok = got == &format!("claims:{U1}") || got == "verified:";
                    if !ok {
                        self.tally.wrong(format!(
                            "identity_mode = {}: mode/identity {got}",
                            preview(&value)
                        ));
                    }
                }
                self.tally
                    .record("identity_mode setting", &["00000", "22023"], &value, &r)
            }
            _ => true,
        }
    }

    async fn step(&mut self) -> bool {
        let choice = self.rng.below(100);
        match choice {
            0..=19 => {
                let (v, want) = random_claims(&mut self.rng);
                self.identity_setting(
                    "current_user_id via request.jwt.claims",
                    "request.jwt.claims",
                    &v,
                    want,
                )
                .await
            }
            20..=27 => {
                let (v, want) = random_subject(&mut self.rng);
                self.identity_setting(
                    "current_user_id via request.jwt.claim.sub",
                    "request.jwt.claim.sub",
                    &v,
                    want,
                )
                .await
            }
            28..=35 => {
                let (v, want) = random_subject(&mut self.rng);
                self.identity_setting(
                    "current_user_id via support.user_id",
                    "support.user_id",
                    &v,
                    want,
                )
                .await
            }
            36..=43 => self.membership().await,
            44..=65 => self.lifecycle().await,
            66..=89 if self.has_authenticate => self.authenticate().await,
            66..=89 => self.lifecycle().await,
            _ => self.superuser_entry().await,
        }
    }
}

async fn install_keys(su: &Client) -> bool {
    su.batch_execute(&format!(
        "INSERT INTO support.jwt_keys (kid, alg, key) VALUES
           ('k-hs256', 'HS256', '{HS_SECRET}'),
           ('k-hs512', 'HS512', 'another secret'),
           ('k-ed', 'EdDSA', '{ED25519_PUBLIC_PEM}'),
           ('k-es', 'ES256', '{P256_PUBLIC_PEM}'),
           ('k-bad-pem', 'EdDSA', 'not a PEM at all');
         INSERT INTO support.jwt_keys (kid, alg, key, active) VALUES ('k-inactive', 'HS256', '{HS_SECRET}', false);"
    ))
    .await
    .is_ok()
}

async fn catalog_flags(su: &Client) -> (bool, bool, bool) {
    let row = su
        .query_one(
            "SELECT to_regprocedure('support.authenticate(text)') IS NOT NULL, \
                    EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'conversations_ext_drop_guard'), \
                    EXISTS (SELECT 1 FROM pg_settings WHERE name = 'support.identity_mode')",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2))
}

/// Probes in a LATIN1 database: text that is valid there but not ASCII
/// reaches Rust code as `&str`/`String` (pgrx accepts only ASCII from
/// databases whose encoding is not UTF-8). Findings, not failures: the
/// supported configuration is a UTF-8 database; a crash still fails.
async fn latin1_probes(target: &Target, rng: &mut Rng) -> Tally {
    let admin = common::connect("postgres").await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {LATIN1_DB} WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {LATIN1_DB} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
        ))
        .await
        .unwrap();
    let (su, _) = connect_as(target, "postgres", LATIN1_DB, "cx-latin1-su")
        .await
        .unwrap();
    // Since 0.2.0 the extension refuses a non-UTF-8 database up front (0A000):
    // then there is nothing left to probe.
    let mut tally = Tally::default();
    let created = su.batch_execute("CREATE EXTENSION conversations_ext").await;
    let refused = matches!(&created, Err(e) if e.code().map(|c| c.code()) == Some("0A000"));
    tally.record(
        "LATIN1: CREATE EXTENSION",
        &["0A000", "00000"],
        "",
        &created,
    );
    if refused {
        return tally;
    }
    su.batch_execute(&format!(
        "SELECT support.grant_usage('{APP_ROLE}');
         INSERT INTO support.users (id) VALUES ('{U1}');
         INSERT INTO support.workspaces (id, name) VALUES ('{W1}', 'wé');
         INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES ('{W1}', '{U1}', 'agent');
         INSERT INTO support.conversations (workspace_id, subject) SELECT '{W1}', 'sujet ' || g FROM generate_series(1, 20) g;"
    ))
    .await
    .unwrap();
    let (has_authenticate, _, _) = catalog_flags(&su).await;
    if has_authenticate {
        let _ = su
            .batch_execute(&format!(
                "INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('clé', 'HS384', 'secrèt'), ('k-hs256', 'HS256', '{HS_SECRET}')"
            ))
            .await;
    }
    let ids: Vec<String> = su
        .query("SELECT id::text FROM support.conversations", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let (app, _) = connect_as(target, "postgres", LATIN1_DB, "cx-latin1-app")
        .await
        .unwrap();
    app.batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .unwrap();
    // (tally continues from the CREATE EXTENSION probe above)
    let latin = |rng: &mut Rng| -> String {
        let n = rng.range(1, 40);
        (0..n)
            .map(|_| {
                if rng.chance(50) {
                    char::from_u32(0xa0 + (rng.next() % 0x60) as u32).unwrap()
                } else {
                    char::from_u32(0x20 + (rng.next() % 0x5f) as u32).unwrap()
                }
            })
            .collect()
    };
    let me = format!("{{\"sub\":\"{U1}\"}}");
    for i in 0..24 {
        let text = latin(rng);
        let id = ids[i % ids.len()].clone();
        // A reason for escalate.
        let r = async {
            app.batch_execute("BEGIN").await?;
            app.query("SELECT set_config('request.jwt.claims', $1, true)", &[&me])
                .await?;
            app.query(
                "SELECT support.escalate_conversation($1::text::uuid, $2::text)",
                &[&id, &text],
            )
            .await
        }
        .await;
        let _ = app.batch_execute("ROLLBACK").await;
        if !tally.record(
            "LATIN1: escalate_conversation reason",
            &["00000", "55000"],
            &text,
            &r,
        ) {
            break;
        }
        // Identity settings.
        for name in [
            "request.jwt.claims",
            "request.jwt.claim.sub",
            "support.user_id",
        ] {
            let value = if name == "request.jwt.claims" {
                format!("{{\"sub\":{}}}", json_string(&text))
            } else {
                text.clone()
            };
            let r = async {
                app.batch_execute("BEGIN").await?;
                app.query("SELECT set_config($1, $2, true)", &[&name, &value])
                    .await?;
                app.query("SELECT support.current_user_id()", &[]).await
            }
            .await;
            let _ = app.batch_execute("ROLLBACK").await;
            tally.record("LATIN1: current_user_id", &["00000", "22P02"], &value, &r);
        }
        if has_authenticate {
            // A token that is not ASCII, and a token whose header names no
            // kid, so that the key rows (one with a non-ASCII kid) are read.
            let r = app.query("SELECT support.authenticate($1)", &[&text]).await;
            tally.record(
                "LATIN1: authenticate(non-ASCII token)",
                &["28000"],
                &text,
                &r,
            );
            let token = format!(
                "{}.{}.{}",
                base64url(b"{\"alg\":\"HS384\"}"),
                base64url(format!("{{\"sub\":\"{U1}\",\"exp\":{}}}", now_secs() + 60).as_bytes()),
                base64url(&random_bytes(rng, 48))
            );
            let r = app
                .query("SELECT support.authenticate($1)", &[&token])
                .await;
            tally.record(
                "LATIN1: authenticate(key row with a non-ASCII kid)",
                &["28000"],
                &token,
                &r,
            );
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seeded_random_inputs_never_crash_a_backend() {
    let started = Instant::now();
    let seed = seed_from_env("CX_SEED", DEFAULT_SEED);
    let iterations = usize_from_env("CX_FUZZ_ITERATIONS", 6000);
    let workers = 4usize;
    println!(
        "robustness: seed {seed:#x}, {iterations} inputs (reproduce: CX_SEED={seed:#x} CX_FUZZ_ITERATIONS={iterations} pg_test/run.sh --test robustness)"
    );
    let target = Target::from_env();
    let log_path = target.server_log();

    let agents: Vec<String> = (1..=4).map(common::agent_id).collect();
    let owner = fresh_database(FUZZ_DB, &agents).await;
    owner
        .batch_execute(&format!(
            "INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
             SELECT '{W1}', CASE WHEN g % 2 = 0 THEN 'escalated' ELSE 'active' END,
                    CASE WHEN g % 2 = 0 THEN now() END, 'fuzz ' || g FROM generate_series(1, 60) g;
             INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
             SELECT '{W2}', 'escalated', now(), 'fuzz w2 ' || g FROM generate_series(1, 10) g;
             INSERT INTO support.users (id) VALUES ('c0000000-0000-4000-8000-00000000000f');
             INSERT INTO support.workspace_members (workspace_id, user_id, role)
             VALUES ('{W1}', 'c0000000-0000-4000-8000-00000000000f', 'viewer');"
        ))
        .await
        .unwrap();
    let conversations: Vec<String> = owner
        .query("SELECT id::text FROM support.conversations", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut members: Vec<String> = agents.clone();
    members.extend([
        U1.to_string(),
        U2.to_string(),
        "c0000000-0000-4000-8000-00000000000f".into(),
    ]);
    let (has_authenticate, has_guard, has_identity_mode) = catalog_flags(&owner).await;
    let has_keys = has_authenticate && install_keys(&owner).await;
    println!(
        "robustness: entry points present: authenticate {has_authenticate} (keys {has_keys}), drop guard {has_guard}, identity_mode {has_identity_mode}"
    );

    // The sentinel: opened before the run, must still answer after it. A
    // crash of any backend makes the postmaster terminate every other one.
    let (sentinel, _) = connect_as(&target, "postgres", FUZZ_DB, "cx-fuzz-sentinel")
        .await
        .unwrap();
    let sentinel_pid: i32 = sentinel
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);

    let mut seeder = Rng::new(seed);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let rng = seeder.fork();
        let target = target.clone();
        let conversations = conversations.clone();
        let members = members.clone();
        let n = iterations / workers + usize::from(w < iterations % workers);
        tasks.push(tokio::spawn(async move {
            let (app, _) = connect_as(&target, "postgres", FUZZ_DB, &format!("cx-fuzz-{w}"))
                .await
                .unwrap();
            app.batch_execute(&format!("SET ROLE {APP_ROLE}"))
                .await
                .unwrap();
            let (su, _) = connect_as(&target, "postgres", FUZZ_DB, &format!("cx-fuzz-su-{w}"))
                .await
                .unwrap();
            let mut f = Fuzz {
                app,
                su,
                rng,
                tally: Tally::default(),
                conversations,
                members,
                has_authenticate,
                has_keys,
                has_guard,
                has_identity_mode,
            };
            for _ in 0..n {
                if !f.step().await {
                    break;
                }
            }
            f.tally
        }));
    }
    let mut tally = Tally::default();
    for t in tasks {
        tally.merge(t.await.unwrap());
    }
    let fuzz_time = started.elapsed();
    let latin1 = latin1_probes(&target, &mut seeder).await;

    // Crash detection: the sentinel still answers on the same backend, and
    // the server log gained no crash line.
    let alive = sentinel.query_one("SELECT pg_backend_pid()", &[]).await;
    let sentinel_ok = matches!(&alive, Ok(row) if row.get::<_, i32>(0) == sentinel_pid);
    let log_after = std::fs::read_to_string(&log_path).unwrap_or_default();
    let crash_lines = crash_lines(&log_after);

    println!(
        "robustness: {} inputs in {fuzz_time:?}; outcomes by entry point:",
        tally.inputs
    );
    for (entry, states) in &tally.by_entry {
        println!("  {entry}: {states:?}");
    }
    println!(
        "robustness: {} XX000 (Rust panics), {} unexpected outcomes, {} dead connections; sentinel alive: {sentinel_ok}; \
         crash lines in the server log: {}",
        tally.panics.len(),
        tally.unexpected.len(),
        tally.crashes.len(),
        crash_lines.len()
    );
    let mut seen_kinds = BTreeSet::new();
    for p in &tally.panics {
        let kind = format!(
            "{} {}",
            p.split(':').next().unwrap_or(""),
            p.rsplit("-> ").next().unwrap_or("")
        );
        if seen_kinds.insert(kind) {
            println!("  FINDING (XX000): {p}");
        }
    }
    for u in tally.unexpected.iter().take(20) {
        println!("  unexpected: {u}");
    }
    println!(
        "robustness: LATIN1 database: {} probes {:?}; {} XX000 (findings, not failures), {} unexpected",
        latin1.inputs,
        latin1.by_entry,
        latin1.panics.len(),
        latin1.unexpected.len()
    );
    for p in &latin1.panics {
        let kind = p.split(':').take(2).collect::<Vec<_>>().join(":");
        if seen_kinds.insert(kind) {
            println!("  FINDING (LATIN1, XX000): {p}");
        }
    }
    assert!(
        sentinel_ok,
        "the sentinel connection died: a backend crashed ({alive:?})"
    );
    assert!(
        crash_lines.is_empty(),
        "the server log shows a crash:\n{}",
        crash_lines.join("\n")
    );
    assert!(
        tally.crashes.is_empty(),
        "connections died: {:#?}",
        tally.crashes
    );
    assert!(
        latin1.crashes.is_empty(),
        "LATIN1 probes: connections died: {:#?}",
        latin1.crashes
    );
    // An XX000 is an ordinary ERROR (no crash) but means a Rust panic: a
    // finding. CX_FUZZ_STRICT=1 (make fuzz) fails on it.
    if std::env::var("CX_FUZZ_STRICT").is_ok_and(|v| v == "1") {
        assert!(
            tally.panics.is_empty(),
            "Rust panics (XX000): {:#?}",
            tally.panics
        );
    }
    assert!(
        tally.unexpected.is_empty(),
        "unexpected outcomes: {:#?}",
        tally.unexpected
    );
}

// ---------------------------------------------------------------- kill -9

/// A cluster of its own, stopped and removed when dropped.
struct OwnCluster {
    dir: String,
    target: Target,
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts")
}

impl OwnCluster {
    fn start() -> Self {
        let out = std::process::Command::new("mktemp")
            .args(["-d", "/tmp/cx-kill9.XXXXXX"])
            .output()
            .expect("mktemp");
        let dir = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let out = std::process::Command::new(scripts().join("free_port.sh"))
            .output()
            .expect("free_port.sh");
        let port = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let status = std::process::Command::new(scripts().join("cluster.sh"))
            .args(["start", &dir, &port])
            .status()
            .expect("cluster.sh start");
        assert!(status.success(), "cluster.sh start {dir} {port}");
        OwnCluster {
            target: Target {
                host: dir.clone(),
                port,
            },
            dir,
        }
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new(scripts().join("cluster.sh"))
            .args(["stop", &self.dir])
            .status();
    }
}

const KILL_DB: &str = "cx_kill9";

fn kill_agent(n: usize) -> String {
    format!("e0000000-0000-4000-8000-{n:012}")
}

/// What one storm session saw.
#[derive(Default, Debug)]
struct SessionLog {
    user: String,
    /// Acknowledged successful calls (the simple protocol acknowledges
    /// after the commit).
    successes: u64,
    /// Acknowledged calls that certainly wrote an event.
    definite: u64,
    by_state: HashMap<String, u64>,
    end: String,
}

/// What the victim saw: claims in committed transactions, and the claims of
/// the transaction it was in when it was killed.
#[derive(Default, Debug)]
struct VictimLog {
    committed: BTreeSet<String>,
    in_flight: BTreeSet<String>,
    commit_sent: bool,
    transactions: u64,
    end: String,
}

fn first_col(messages: &[tokio_postgres::SimpleQueryMessage]) -> Option<Option<String>> {
    messages.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
        _ => None,
    })
}

fn is_connection_loss(e: &tokio_postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(c) => {
            let c = c.code();
            c.starts_with("57P") || c.starts_with("08")
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn storm_session(
    target: Target,
    user: String,
    name: String,
    ids: Vec<String>,
    agents: Vec<String>,
    seed: u64,
    stop: Arc<AtomicBool>,
    max_ops: usize,
) -> SessionLog {
    let mut log = SessionLog {
        user: user.clone(),
        ..Default::default()
    };
    let (c, _) = connect_as(&target, "postgres", KILL_DB, &name)
        .await
        .unwrap();
    c.batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .unwrap();
    // Identity per transaction: each operation is one simple-protocol query
    // `SET LOCAL ...; SELECT ...`, which runs as one implicit transaction.
    let identity = set_local_user(&user);
    let mut rng = Rng::new(seed);
    for _ in 0..max_ops {
        if stop.load(Ordering::Relaxed) {
            log.end = "stopped".into();
            break;
        }
        let id = rng.pick(&ids).clone();
        let (kind, sql) = match rng.below(7) {
            0 => (
                "claim",
                format!("SELECT id FROM support.claim_conversation('{id}')"),
            ),
            1 => (
                "claim_next",
                format!("SELECT id FROM support.claim_next_conversation('{W1}')"),
            ),
            2 => (
                "release",
                format!("SELECT id FROM support.release_conversation('{id}')"),
            ),
            3 => (
                "transfer",
                format!(
                    "SELECT id FROM support.transfer_conversation('{id}', '{}')",
                    rng.pick(&agents)
                ),
            ),
            4 => (
                "resolve",
                format!("SELECT id FROM support.resolve_conversation('{id}')"),
            ),
            5 => (
                "reopen",
                format!("SELECT id FROM support.reopen_conversation('{id}')"),
            ),
            _ => (
                "escalate",
                format!("SELECT id FROM support.escalate_conversation('{id}', 'storm')"),
            ),
        };
        match c.simple_query(&format!("{identity}; {sql}")).await {
            Ok(m) => {
                log.successes += 1;
                *log.by_state.entry("00000".into()).or_default() += 1;
                let returned = first_col(&m).flatten();
                let definite = match kind {
                    "escalate" | "release" | "resolve" | "reopen" => true,
                    "claim_next" => returned.is_some(),
                    _ => false,
                };
                log.definite += u64::from(definite);
            }
            Err(e) if is_connection_loss(&e) => {
                log.end = format!("connection lost ({})", db_error_state(&e));
                break;
            }
            Err(e) => {
                *log.by_state.entry(db_error_state(&e)).or_default() += 1;
            }
        }
    }
    log
}

async fn victim_session(target: Target, user: String, stop: Arc<AtomicBool>) -> VictimLog {
    let mut log = VictimLog::default();
    let (c, _) = connect_as(&target, "postgres", KILL_DB, "cx-storm-victim")
        .await
        .unwrap();
    c.batch_execute(&format!("SET ROLE {APP_ROLE}"))
        .await
        .unwrap();
    let begin = format!("BEGIN; {}", set_local_user(&user));
    'outer: while !stop.load(Ordering::Relaxed) {
        log.in_flight.clear();
        log.commit_sent = false;
        if let Err(e) = c.simple_query(&begin).await {
            log.end = format!("BEGIN: {}", db_error_state(&e));
            break;
        }
        for _ in 0..4 {
            match c
                .simple_query(&format!(
                    "SELECT id FROM support.claim_next_conversation('{W1}'); SELECT pg_sleep(0.004)"
                ))
                .await
            {
                Ok(m) => {
                    if let Some(Some(id)) = first_col(&m) {
                        log.in_flight.insert(id);
                    }
                }
                Err(e) => {
                    log.end = format!("mid-transaction: {}", db_error_state(&e));
                    break 'outer;
                }
            }
        }
        log.commit_sent = true;
        match c.simple_query("COMMIT").await {
            Ok(_) => {
                log.transactions += 1;
                log.committed.extend(std::mem::take(&mut log.in_flight));
            }
            Err(e) => {
                log.end = format!("COMMIT: {}", db_error_state(&e));
                break;
            }
        }
    }
    log
}

/// Every lifecycle invariant, checked on the recovered database. Returns
/// the number of events replayed.
async fn check_invariants(c: &Client, label: &str) -> usize {
    let broken: i64 = c
        .query_one(
            "SELECT count(*) FROM support.conversations WHERE (status = 'claimed') <> (claimed_by IS NOT NULL) \
                OR (status = 'claimed' AND claimed_at IS NULL) OR (status <> 'claimed' AND claimed_at IS NOT NULL) \
                OR (status = 'escalated' AND escalated_at IS NULL) \
                OR ((status = 'resolved') <> (resolved_at IS NOT NULL))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        broken, 0,
        "{label}: rows break the claimed/owner/timestamp invariants"
    );
    let rows = c
        .query(
            "SELECT c.id::text, c.status, c.claimed_by::text, e.kind, e.from_status, e.to_status, \
                    e.from_owner::text, e.to_owner::text \
               FROM support.conversations c \
               LEFT JOIN support.conversation_events e ON e.conversation_id = c.id \
              ORDER BY c.id, e.created_at, e.id",
            &[],
        )
        .await
        .unwrap();
    type State = (Option<String>, Option<String>);
    let mut replayed: HashMap<String, (State, usize)> = HashMap::new();
    let mut finals: HashMap<String, State> = HashMap::new();
    let mut events = 0;
    for r in &rows {
        let id: String = r.get(0);
        finals.insert(id.clone(), (Some(r.get(1)), r.get(2)));
        let Some(kind) = r.get::<_, Option<String>>(3) else {
            panic!("{label}: conversation {id} has no events at all");
        };
        let (state, n) = replayed.entry(id.clone()).or_insert(((None, None), 0));
        let from: State = (r.get(4), r.get(6));
        let to: State = (r.get(5), r.get(7));
        assert_eq!(
            *state, from,
            "{label}: event {kind} of {id} does not continue from the previous state"
        );
        if *n == 0 {
            assert_eq!(
                kind, "created",
                "{label}: the first event of {id} is {kind}"
            );
        }
        let fs = from.0.as_deref().unwrap_or("");
        let ts = to.0.as_deref().unwrap_or("");
        let legal = match kind.as_str() {
            "created" => fs.is_empty() && (ts == "escalated" || ts == "active"),
            "escalated" => fs == "active" && ts == "escalated",
            "claimed" => fs == "escalated" && ts == "claimed" && from.1.is_none() && to.1.is_some(),
            "released" | "unassigned" => fs == "claimed" && ts == "escalated" && to.1.is_none(),
            "transferred" => fs == "claimed" && ts == "claimed" && to.1.is_some() && from.1 != to.1,
            "resolved" => (fs == "claimed" || fs == "active") && ts == "resolved" && to.1.is_none(),
            "reopened" => fs == "resolved" && ts == "escalated",
            _ => false,
        };
        assert!(
            legal,
            "{label}: event {kind} of {id} is not a legal transition: {from:?} -> {to:?}"
        );
        *state = to;
        *n += 1;
        events += 1;
    }
    let replayed: HashMap<String, State> = replayed.into_iter().map(|(k, (s, _))| (k, s)).collect();
    assert_eq!(
        replayed, finals,
        "{label}: the event log does not replay to the rows"
    );
    // Indexes agree with the heap: the same answers through index scans only
    // and through sequential scans only.
    let by_index: Vec<String> = c
        .simple_query(
            "BEGIN; SET LOCAL enable_seqscan = off; \
             SELECT string_agg(id::text, ',' ORDER BY id) FROM support.conversations WHERE status = 'escalated' AND workspace_id = 'a1000000-0000-4000-8000-000000000001'; \
             COMMIT",
        )
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_string()),
            _ => None,
        })
        .collect();
    let by_heap: Vec<String> = c
        .simple_query(
            "BEGIN; SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexonlyscan = off; \
             SELECT string_agg(id::text, ',' ORDER BY id) FROM support.conversations WHERE status = 'escalated' AND workspace_id = 'a1000000-0000-4000-8000-000000000001'; \
             COMMIT",
        )
        .await
        .unwrap()
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).unwrap_or("").to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        by_index, by_heap,
        "{label}: the queue index disagrees with the table"
    );
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_in_a_claim_storm_keeps_every_invariant() {
    let started = Instant::now();
    let seed = seed_from_env("CX_SEED", DEFAULT_SEED);
    let cluster = OwnCluster::start();
    let t = cluster.target.clone();
    let (admin, _) = connect_as(&t, "postgres", "postgres", "cx-kill9-admin")
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE ROLE {APP_ROLE} NOLOGIN"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {KILL_DB}"))
        .await
        .unwrap();
    let (owner, _) = connect_as(&t, "postgres", KILL_DB, "cx-kill9-owner")
        .await
        .unwrap();
    let sessions = 7usize;
    let agents: Vec<String> = (1..=sessions).map(kill_agent).collect();
    let victim = kill_agent(99);
    let mut setup = format!(
        "CREATE EXTENSION conversations_ext; SELECT support.grant_usage('{APP_ROLE}');
         INSERT INTO support.workspaces (id, name) VALUES ('{W1}', 'w1');
         INSERT INTO support.users (id) VALUES ('{victim}');
         INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES ('{W1}', '{victim}', 'agent');"
    );
    for a in &agents {
        setup.push_str(&format!(
            "INSERT INTO support.users (id) VALUES ('{a}');
             INSERT INTO support.workspace_members (workspace_id, user_id, role) VALUES ('{W1}', '{a}', 'agent');"
        ));
    }
    setup.push_str(&format!(
        "INSERT INTO support.conversations (workspace_id, status, escalated_at, subject)
         SELECT '{W1}', 'escalated', now() - make_interval(secs => 400 - g), 'storm ' || g FROM generate_series(1, 400) g;"
    ));
    owner.batch_execute(&setup).await.unwrap();
    let ids: Vec<String> = owner
        .query("SELECT id::text FROM support.conversations", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let mut storm = Vec::new();
    for (i, a) in agents.iter().enumerate() {
        storm.push(tokio::spawn(storm_session(
            t.clone(),
            a.clone(),
            format!("cx-storm-{i}"),
            ids.clone(),
            agents.clone(),
            seed ^ (i as u64 + 1),
            stop.clone(),
            1_000_000,
        )));
    }
    let victim_task = tokio::spawn(victim_session(t.clone(), victim.clone(), stop.clone()));

    // Let the storm run, then find the victim's backend in pg_stat_activity
    // while it is inside a transaction that has written, and kill -9 it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (pid, xid) = loop {
        let row = admin
            .query_opt(
                "SELECT pid, backend_xid::text FROM pg_stat_activity \
                  WHERE application_name = 'cx-storm-victim' AND backend_xid IS NOT NULL",
                &[],
            )
            .await
            .unwrap();
        if let Some(r) = row {
            break (r.get::<_, i32>(0), r.get::<_, String>(1));
        }
        assert!(
            Instant::now() < deadline,
            "the victim never had an open writing transaction"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    let killed_at = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill -9 {pid}");

    let victim_log = victim_task.await.unwrap();
    let mut logs = Vec::new();
    for s in storm {
        logs.push(s.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);

    // Recovery: the postmaster terminated every backend and replays WAL.
    let (c, recovery) = loop {
        if let Ok((c, _)) = connect_as(&t, "postgres", KILL_DB, "cx-kill9-check").await {
            if c.query_one("SELECT 1", &[]).await.is_ok() {
                break (c, killed_at.elapsed());
            }
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(60),
            "the cluster did not recover"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let total_ops: u64 = logs.iter().map(|l| l.by_state.values().sum::<u64>()).sum();
    let mut states: HashMap<String, u64> = HashMap::new();
    for l in &logs {
        for (k, v) in &l.by_state {
            *states.entry(k.clone()).or_default() += v;
        }
    }
    println!(
        "kill -9: storm of {total_ops} calls from {} sessions {states:?} and a victim session; killed backend {pid} of the victim \
         (transaction {xid} open, {} uncommitted claims, commit sent: {}) after {} committed transactions; \
         recovered in {recovery:?}",
        sessions,
        victim_log.in_flight.len(),
        victim_log.commit_sent,
        victim_log.transactions,
    );
    // Every storm session ended because its connection was terminated, and
    // only with documented refusals before that.
    for l in &logs {
        assert!(
            l.end.starts_with("connection lost"),
            "session {} ended: {}",
            l.user,
            l.end
        );
        for k in l.by_state.keys() {
            assert!(
                ["00000", "55000", "55006", "42501"].contains(&k.as_str()),
                "session {}: {k}",
                l.user
            );
        }
    }

    // The crash is in the log (positive control of the detector the fuzz
    // test relies on), and nothing worse.
    let log = std::fs::read_to_string(format!("{}/server.log", cluster.dir)).unwrap_or_default();
    let crash = crash_lines(&log);
    assert!(
        crash
            .iter()
            .any(|l| l.contains(&format!("PID {pid}")) && l.contains("terminated by signal 9")),
        "the server log must show the killed backend: {crash:?}"
    );
    assert!(!log.contains("PANIC:"), "PANIC in the server log");

    // Invariants after recovery.
    let events = check_invariants(&c, "after recovery").await;
    // The victim: exactly its committed claims survive; the transaction it
    // was killed in left nothing (or, if its COMMIT was in flight, all of it).
    let owned: BTreeSet<String> = c
        .query(
            &format!("SELECT id::text FROM support.conversations WHERE claimed_by = '{victim}'"),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let victim_events: BTreeSet<String> = c
        .query(
            &format!(
                "SELECT conversation_id::text FROM support.conversation_events WHERE actor_id = '{victim}' AND kind = 'claimed'"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let all_victim_events: i64 = c
        .query_one(
            &format!(
                "SELECT count(*) FROM support.conversation_events WHERE actor_id = '{victim}'"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let with_in_flight: BTreeSet<String> = victim_log
        .committed
        .union(&victim_log.in_flight)
        .cloned()
        .collect();
    let ok = owned == victim_log.committed || (victim_log.commit_sent && owned == with_in_flight);
    assert!(
        ok,
        "victim: owns {} conversations, committed {} (+{} in flight, commit sent {}): a half-written or lost transaction",
        owned.len(),
        victim_log.committed.len(),
        victim_log.in_flight.len(),
        victim_log.commit_sent
    );
    assert_eq!(
        victim_events, owned,
        "victim: claimed events = claimed rows"
    );
    assert_eq!(
        all_victim_events as usize,
        owned.len(),
        "victim: no other event"
    );
    assert!(
        victim_log.commit_sent || victim_log.in_flight.is_disjoint(&owned),
        "victim: claims of the killed transaction survived"
    );
    // The storm sessions: every acknowledged change is there; at most the one
    // in flight at the crash is there unacknowledged.
    for l in &logs {
        let n: i64 = c
            .query_one(
                &format!(
                    "SELECT count(*) FROM support.conversation_events WHERE actor_id = '{}'",
                    l.user
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let n = n as u64;
        assert!(
            l.definite <= n && n <= l.successes + 1,
            "session {}: {n} events, {} acknowledged changes, {} acknowledged successes",
            l.user,
            l.definite,
            l.successes
        );
    }
    // amcheck, when the contrib module is installed: every B-tree index of
    // the support schema matches its table.
    let amcheck = c
        .batch_execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        .await
        .is_ok();
    let mut checked = 0;
    if amcheck {
        let rows = c
            .query(
                "SELECT i.indexrelid::regclass::text, bt_index_check(i.indexrelid, true)::text \
                   FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid \
                  WHERE x.relnamespace = 'support'::regnamespace \
                    AND x.relam = (SELECT oid FROM pg_am WHERE amname = 'btree')",
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("amcheck: {e}"));
        checked = rows.len();
    }

    // The recovered cluster works: a second storm, then every invariant again.
    let stop2 = Arc::new(AtomicBool::new(false));
    let mut storm2 = Vec::new();
    for (i, a) in agents.iter().take(4).enumerate() {
        storm2.push(tokio::spawn(storm_session(
            t.clone(),
            a.clone(),
            format!("cx-storm2-{i}"),
            ids.clone(),
            agents.clone(),
            seed ^ 0xabc ^ i as u64,
            stop2.clone(),
            250,
        )));
    }
    let mut after = 0u64;
    for s in storm2 {
        let l = s.await.unwrap();
        for k in l.by_state.keys() {
            assert!(
                ["00000", "55000", "55006", "42501"].contains(&k.as_str()),
                "after recovery: {k}"
            );
        }
        after += l.successes;
    }
    assert!(after > 0, "the recovered cluster accepts lifecycle calls");
    let events_after = check_invariants(&c, "after a second storm").await;
    println!(
        "kill -9: after recovery {} conversations, {events} events chain and replay to the rows; victim kept exactly \
         its {} committed claims; amcheck {} ({checked} indexes); a second storm of 1000 calls ({after} succeeded) \
         left {events_after} events, all consistent; {:?} in all",
        ids.len(),
        victim_log.committed.len(),
        if amcheck { "passed" } else { "not installed" },
        started.elapsed()
    );
    drop(cluster);
}
