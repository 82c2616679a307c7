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

use std::ffi::CStr;

use pgrx::prelude::*;
use serde::Deserialize;

use crate::errors;

mod transaction_scope;
pub(crate) mod verified;

use transaction_scope::set_in_this_transaction;

const CLAIMS: &CStr = c"request.jwt.claims";
const CLAIM_SUB: &CStr = c"request.jwt.claim.sub";
const USER_ID: &CStr = c"support.user_id";

/// Calls `f` with the (trimmed, non-empty) value of a setting the current
/// transaction set: None when unset or empty, Some(None) when stale. No
/// allocation: the policies resolve the identity for every row they check.
fn with_setting<R>(name: &CStr, f: impl FnOnce(&str) -> R) -> Option<Option<R>> {
    // SAFETY: name is a valid C string; missing_ok = true returns NULL for an
    // undefined setting instead of raising; the value is used at once.
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    if value.is_null() {
        return None;
    }
    // SAFETY: GetConfigOption returns a NUL-terminated string owned by guc.c.
    let value = unsafe { CStr::from_ptr(value) }.to_string_lossy();
    let value = value.trim();
    if value.is_empty() {
        None
    } else if set_in_this_transaction(name) {
        Some(Some(f(value)))
    } else {
        Some(None)
    }
}

thread_local! {
    /// The last `request.jwt.claims` document parsed, and its subject: a
    /// statement under RLS asks for the identity once per row, and the
    /// document rarely changes between rows (or requests).
    static LAST_CLAIMS: std::cell::RefCell<(String, Option<pgrx::Uuid>)> =
        const { std::cell::RefCell::new((String::new(), None)) };
}

/// [`subject_of_claims`], remembering the last document that parsed.
fn subject_of_claims_memo(claims: &str) -> Result<Option<pgrx::Uuid>, String> {
    let known = LAST_CLAIMS.with(|m| {
        let m = m.borrow();
        (!m.0.is_empty() && m.0 == claims).then_some(m.1)
    });
    if let Some(user) = known {
        return Ok(user);
    }
    let user = subject_of_claims(claims)?;
    LAST_CLAIMS.with(|m| {
        let mut m = m.borrow_mut();
        m.0.clear();
        m.0.push_str(claims);
        m.1 = user;
    });
    Ok(user)
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
    (CLAIMS, "request.jwt.claims", subject_of_claims_memo),
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
    for (name, label, parse) in SOURCES {
        match with_setting(name, parse) {
            Some(Some(Ok(user))) => return (user, None),
            Some(Some(Err(why))) => errors::bad_identity(label, why),
            Some(None) => {
                ignored.get_or_insert(label);
            }
            None => {}
        }
    }
    (None, ignored)
}

/// The current end user, resolved from the settings (see the module docs).
pub(crate) fn current_user() -> Option<pgrx::Uuid> {
    resolve().0
}

/// The current end user, or the 28000 error when there is none.
pub(crate) fn require_current_user() -> pgrx::Uuid {
    match resolve() {
        (Some(user), _) => user,
        (None, ignored) => errors::no_identity(ignored),
    }
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
