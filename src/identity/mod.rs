//! Who is calling: the end user behind the current statement.
//!
//! A token verified by `support.authenticate()` in the current transaction
//! always comes first. In `support.identity_mode = verified` it is the only
//! source. Otherwise (`claims`, the default) the settings follow, in order;
//! **the first one that is set decides** (an empty value is "not set"):
//! 1. `request.jwt.claims` (PostgREST >= 9, Supabase): JSON, its `sub` claim.
//!    Set but without a `sub` (an anonymous request) means nobody, never a
//!    fall-through to a stale `support.user_id` left on a pooled connection.
//! 2. `request.jwt.claim.sub` (older PostgREST).
//! 3. `support.user_id` (applications that `SET LOCAL support.user_id`).
//!
//! **Only what the current transaction set counts.** A value left by a
//! session-level `SET` in an earlier transaction, by `ALTER ROLE/DATABASE …
//! SET` or by connection options is ignored, never acted on: behind a
//! transaction-mode pool (PgBouncer) such a value belongs to whichever client
//! used the server connection before. A function that needs a user then says
//! so (28000, naming the ignored setting).
//!
//! Settings are read through the C API (`GetConfigOption`), so nothing the
//! caller puts on its `search_path` can steer the lookup.

use std::cell::RefCell;
use std::ffi::CStr;

use pgrx::prelude::*;
use serde::Deserialize;

use crate::errors::OrRaise;
use crate::{errors, unguarded};

mod transaction_scope;
pub(crate) mod verified;

const CLAIMS: &CStr = c"request.jwt.claims";
const CLAIM_SUB: &CStr = c"request.jwt.claim.sub";
const USER_ID: &CStr = c"support.user_id";

/// What an identity setting's value says once trimmed: nothing (empty), or
/// the user it names (None: nobody).
#[derive(Clone, Copy)]
enum Reading {
    Empty,
    User(Option<pgrx::Uuid>),
}

/// What a setting decides in the order of [`SOURCES`]: go on to the next
/// one (unset or empty), go on but say it was ignored (left by an earlier
/// transaction), or this user.
enum Step {
    Next,
    Stale,
    User(Option<pgrx::Uuid>),
}

impl Reading {
    fn step(self, in_transaction: bool) -> Step {
        match self {
            Reading::Empty => Step::Next,
            Reading::User(user) if in_transaction => Step::User(user),
            Reading::User(_) => Step::Stale,
        }
    }
}

thread_local! {
    /// Per identity setting, the last value read and what it said (values
    /// that parsed): a statement under RLS resolves the identity for every
    /// row it checks, and the values rarely change between rows (or
    /// requests).
    static LAST: RefCell<[(Vec<u8>, Option<Reading>); SOURCES.len()]> =
        const { RefCell::new([const { (Vec::new(), None) }; SOURCES.len()]) };
}

/// The value of identity setting `name` (number `which` of [`SOURCES`]) and
/// whether the current transaction set it; None when unset. The bytes belong
/// to guc.c and stay valid until the setting changes: use them at once.
/// After the first call in a backend: no search.
fn current_value<'a>(which: usize, name: &CStr) -> Option<(&'a [u8], bool)> {
    let setting = transaction_scope::setting(which, name)?;
    if setting.value.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated string owned by guc.c (see above).
    let raw = unsafe { CStr::from_ptr(setting.value) }.to_bytes();
    Some((raw, setting.in_transaction))
}

/// What setting `which` said when it last held exactly `raw`, if remembered.
fn remembered(which: usize, raw: &[u8]) -> Option<Reading> {
    LAST.try_with(|last| {
        let last = last.try_borrow().ok()?;
        let (bytes, reading) = last.get(which)?;
        reading.filter(|_| unguarded::same(bytes, raw))
    })
    .ok()
    .flatten()
}

/// What identity setting `name` (number `which` of [`SOURCES`]) decides, or
/// why its value does not parse. A value left by an earlier transaction is
/// not parsed. No allocation and no parse while the value stays the same.
fn read_setting(which: usize, name: &CStr, parse: SubjectParser) -> Result<Step, String> {
    let Some((raw, in_transaction)) = current_value(which, name) else {
        return Ok(Step::Next);
    };
    if let Some(reading) = remembered(which, raw) {
        return Ok(reading.step(in_transaction));
    }
    let text = String::from_utf8_lossy(raw);
    let text = text.trim();
    let reading = if text.is_empty() {
        Reading::Empty
    } else if !in_transaction {
        return Ok(Step::Stale);
    } else {
        Reading::User(parse(text)?)
    };
    LAST.with(|last| {
        let slot = &mut last.borrow_mut()[which];
        slot.0.clear();
        slot.0.extend_from_slice(raw);
        slot.1 = Some(reading);
    });
    Ok(reading.step(in_transaction))
}

/// Parses a subject into a user id; an empty subject is nobody. Pure: the
/// caller turns an `Err` into the 22P02 error naming the setting.
pub(crate) fn parse_subject(subject: &str) -> Result<Option<pgrx::Uuid>, String> {
    let subject = subject.trim();
    if subject.is_empty() {
        return Ok(None);
    }
    uuid::Uuid::try_parse(subject)
        .map(|id| Some(pgrx::Uuid::from_bytes(id.into_bytes())))
        .map_err(|_| format!("subject {:?} is not a UUID", truncate(subject)))
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<serde_json::Value>,
}

/// The user named by a `request.jwt.claims` JSON document (None: anonymous).
/// The document must be a JSON object, as PostgREST writes it (serde would
/// otherwise read a struct from an array by position); a repeated `sub` is
/// an error, never "the last one wins"; other claims are skipped unparsed.
pub(crate) fn subject_of_claims(claims: &str) -> Result<Option<pgrx::Uuid>, String> {
    if !claims.trim_start().starts_with('{') {
        return Err("not a JSON object".into());
    }
    let parsed: Claims =
        serde_json::from_str(claims).map_err(|e| format!("not a JSON object ({e})"))?;
    match parsed.sub {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(sub)) => parse_subject(&sub),
        Some(other) => Err(format!(
            "claim \"sub\" must be a string, found {}",
            truncate(&other.to_string())
        )),
    }
}

/// Keeps error messages short whatever the caller put in a setting.
fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// The identity settings in precedence order, with how each names a user.
type SubjectParser = fn(&str) -> Result<Option<pgrx::Uuid>, String>;
const SOURCES: [(&CStr, &str, SubjectParser); 3] = [
    (CLAIMS, "request.jwt.claims", subject_of_claims),
    (CLAIM_SUB, "request.jwt.claim.sub", parse_subject),
    (USER_ID, "support.user_id", parse_subject),
];

/// The current end user (see the module docs), and the first identity
/// setting that was ignored because an earlier transaction left it.
fn resolve() -> (Option<pgrx::Uuid>, Option<&'static str>) {
    if let Some(verified) = verified::current() {
        return (Some(verified), None);
    }
    if verified::settings_ignored() {
        return (None, None);
    }
    let mut ignored = None;
    for (which, (name, label, parse)) in SOURCES.into_iter().enumerate() {
        match read_setting(which, name, parse) {
            Ok(Step::User(user)) => return (user, None),
            Ok(Step::Stale) => {
                ignored.get_or_insert(label);
            }
            Ok(Step::Next) => {}
            Err(why) => errors::bad_identity(label, why),
        }
    }
    (None, ignored)
}

/// The current end user if every setting reads as when it was last parsed
/// (None: ask [`current_user`]). Parses, allocates and raises nothing: the
/// quick path of the policies' per-row call.
pub(crate) fn current_user_quick() -> Option<Option<pgrx::Uuid>> {
    if let Some(verified) = verified::current_quick()? {
        return Some(Some(verified));
    }
    if verified::settings_ignored() {
        return Some(None);
    }
    for (which, (name, _, _)) in SOURCES.iter().enumerate() {
        let Some((raw, in_transaction)) = current_value(which, name) else {
            continue;
        };
        if let Step::User(user) = remembered(which, raw)?.step(in_transaction) {
            return Some(user);
        }
    }
    Some(None)
}

/// The current end user, resolved from the settings (see the module docs).
pub(crate) fn current_user() -> Option<pgrx::Uuid> {
    resolve().0
}

/// The current end user, or the 28000 error when there is none. On Citus
/// the user is also made known to the workers (see [`propagate`]): the
/// functions that need a user write through them.
pub(crate) fn require_current_user() -> pgrx::Uuid {
    match resolve() {
        (Some(user), _) => {
            propagate(user).or_raise();
            user
        }
        (None, ignored) => errors::no_identity(ignored),
    }
}

/// On Citus (after `support.distribute()`): `SET LOCAL support.user_id` to
/// `user` with `citus.propagate_set_commands = 'local'` for that one
/// statement, so Citus sends it to every worker this transaction uses (it
/// sends no `set_config()`, hence nothing PostgREST or Supabase set). The
/// policies and audit triggers that run there then see the same user. Does
/// nothing without Citus, on a worker, or when already done for `user` in
/// this (sub)transaction. Only a user this backend already accepted is sent.
fn propagate(user: pgrx::Uuid) -> crate::errors::Result<()> {
    // What was sent, in which transaction and subtransaction (a rolled-back
    // savepoint takes the SET LOCAL back, on the workers too: send again).
    type Sent = (pg_sys::TimestampTz, pg_sys::SubTransactionId, pgrx::Uuid);
    thread_local! {
        static SENT: std::cell::Cell<Option<Sent>> = const { std::cell::Cell::new(None) };
    }
    if crate::citus::node()? != crate::citus::Node::Coordinator {
        return Ok(());
    }
    // SAFETY: the current transaction's start time and subtransaction id;
    // always valid in a transaction.
    let now = unsafe {
        (
            pg_sys::GetCurrentTransactionStartTimestamp(),
            pg_sys::GetCurrentSubTransactionId(),
            user,
        )
    };
    if SENT.with(|s| s.get()) == Some(now) {
        return Ok(());
    }
    // The SET LOCAL is of another setting: it outlives the temporary one.
    crate::gucs::with_setting(c"citus.propagate_set_commands", c"local", || {
        Spi::run(&format!("SET LOCAL support.user_id = '{user}'"))
    })?;
    SENT.with(|s| s.set(Some(now)));
    Ok(())
}

/// `support.propagate_identity()`: on Citus, makes the current end user
/// known to the workers for the rest of the transaction (see [`propagate`]);
/// returns that user, or NULL for nobody (then nothing is sent). Without
/// Citus it only returns the user. For PostgREST and Supabase on Citus:
/// their `db-pre-request` function (docs/scale-out.md).
#[pg_extern(volatile, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn propagate_identity() -> Option<pgrx::Uuid> {
    let user = current_user()?;
    propagate(user).or_raise();
    Some(user)
}

/// `support.current_user_id()`: the calling end user, or NULL for nobody.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn current_user_id() -> Option<pgrx::Uuid> {
    current_user()
}

/// `support.require_user_id()`: the calling end user, or the same 28000 the
/// lifecycle functions raise (naming an identity setting that was ignored
/// because an earlier transaction left it). Internal: the membership
/// functions (sql/40_membership.sql) call it; not granted to application roles.
#[pg_extern(stable, parallel_restricted, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn require_user_id() -> pgrx::Uuid {
    require_current_user()
}

/// Property tests of the parsers (plain #[test], no server needed): seeded
/// random inputs, including huge and deeply nested ones, never panic, and
/// well-formed subjects round-trip.
#[cfg(test)]
mod property_tests {
    use super::{parse_subject, subject_of_claims};
    use crate::tests::random::Rng;

    #[test]
    fn random_subjects_never_panic_and_uuids_round_trip() {
        let mut rng = Rng::new(0x5eed_0001);
        for _ in 0..20_000 {
            let junk = rng.text(200);
            let _ = parse_subject(&junk);
            let bytes = rng.bytes16();
            let id = uuid::Uuid::from_bytes(bytes);
            for form in [
                id.hyphenated().to_string(),
                id.simple().to_string(),
                id.hyphenated().to_string().to_uppercase(),
            ] {
                let padded = format!(
                    "{}{form}{}",
                    " ".repeat(rng.below(3)),
                    " ".repeat(rng.below(3))
                );
                assert_eq!(
                    parse_subject(&padded),
                    Ok(Some(pgrx::Uuid::from_bytes(bytes))),
                    "{padded:?}"
                );
            }
        }
        assert_eq!(parse_subject("   "), Ok(None));
        assert!(parse_subject(&"9".repeat(1 << 20)).is_err());
    }

    #[test]
    fn random_claims_never_panic() {
        let mut rng = Rng::new(0x5eed_0002);
        for _ in 0..20_000 {
            let _ = subject_of_claims(&rng.text(300));
            let _ = subject_of_claims(&rng.json(6));
            let bytes = rng.bytes16();
            let id = uuid::Uuid::from_bytes(bytes);
            let doc = format!(
                r#"{{"role":"authenticated","sub":"{id}","extra":{}}}"#,
                rng.json(3)
            );
            assert_eq!(
                subject_of_claims(&doc),
                Ok(Some(pgrx::Uuid::from_bytes(bytes))),
                "{doc}"
            );
        }
        // Deep nesting and huge documents are errors, not stack overflows.
        assert!(subject_of_claims(&"[".repeat(100_000)).is_err());
        assert!(subject_of_claims(&format!(r#"{{"sub":{}}}"#, "[".repeat(100_000))).is_err());
        let huge = format!(r#"{{"sub":null,"pad":"{}"}}"#, "x".repeat(1 << 20));
        assert_eq!(subject_of_claims(&huge), Ok(None));
        assert!(subject_of_claims(r#"{"sub":7}"#).is_err());
        // Only an object names a user: an array holding a UUID does not.
        assert!(subject_of_claims(r#"["b1000000-0000-4000-8000-000000000001"]"#).is_err());
        // A repeated sub is refused, whichever comes last.
        assert!(subject_of_claims(
            r#"{"sub":"b1000000-0000-4000-8000-000000000001","sub":"b2000000-0000-4000-8000-000000000002"}"#
        )
        .is_err());
    }
}
