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
//! Settings are read through the C API (`GetConfigOption`), so nothing the
//! caller puts on its `search_path` can steer the lookup.

use std::ffi::CStr;

use pgrx::prelude::*;
use serde::Deserialize;

use crate::errors;

const CLAIMS: &CStr = c"request.jwt.claims";
const CLAIM_SUB: &CStr = c"request.jwt.claim.sub";
const USER_ID: &CStr = c"support.user_id";

/// The value of a setting, or None when it is undefined or empty.
fn setting(name: &CStr) -> Option<String> {
    // SAFETY: name is a valid C string; missing_ok = true returns NULL for an
    // undefined setting instead of raising; the result is copied at once.
    let value = unsafe { pg_sys::GetConfigOption(name.as_ptr(), true, false) };
    if value.is_null() {
        return None;
    }
    // SAFETY: GetConfigOption returns a NUL-terminated string owned by guc.c.
    let value = unsafe { CStr::from_ptr(value) }.to_string_lossy();
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    sub: Option<serde_json::Value>,
}

/// Parses a subject into a user id; an empty subject is nobody.
pub(crate) fn parse_subject(source: &str, subject: &str) -> Option<pgrx::Uuid> {
    let subject = subject.trim();
    if subject.is_empty() {
        return None;
    }
    match uuid::Uuid::try_parse(subject) {
        Ok(id) => Some(pgrx::Uuid::from_bytes(id.into_bytes())),
        Err(_) => errors::bad_identity(
            source,
            format!("subject {:?} is not a UUID", truncate(subject)),
        ),
    }
}

/// The user named by a `request.jwt.claims` JSON document (None: anonymous).
pub(crate) fn subject_of_claims(claims: &str) -> Option<pgrx::Uuid> {
    let source = "request.jwt.claims";
    let parsed: Claims = match serde_json::from_str(claims) {
        Ok(parsed) => parsed,
        Err(e) => errors::bad_identity(source, format!("not a JSON object ({e})")),
    };
    match parsed.sub {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(sub)) => parse_subject(source, &sub),
        Some(other) => errors::bad_identity(
            source,
            format!(
                "claim \"sub\" must be a string, found {}",
                truncate(&other.to_string())
            ),
        ),
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

/// The current end user, resolved from the settings (see the module docs).
pub(crate) fn current_user() -> Option<pgrx::Uuid> {
    if let Some(verified) = crate::verified::current() {
        return Some(verified);
    }
    if crate::verified::settings_ignored() {
        return None;
    }
    if let Some(claims) = setting(CLAIMS) {
        return subject_of_claims(&claims);
    }
    if let Some(sub) = setting(CLAIM_SUB) {
        return parse_subject("request.jwt.claim.sub", &sub);
    }
    if let Some(id) = setting(USER_ID) {
        return parse_subject("support.user_id", &id);
    }
    None
}

/// The current end user, or the 28000 error when there is none.
pub(crate) fn require_current_user() -> pgrx::Uuid {
    current_user().unwrap_or_else(|| errors::no_identity())
}

/// `support.current_user_id()`: the calling end user, or NULL for nobody.
#[pg_extern(stable, parallel_restricted)]
#[search_path(pg_catalog, pg_temp)]
pub fn current_user_id() -> Option<pgrx::Uuid> {
    current_user()
}
