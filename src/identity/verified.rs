//! Verified identity: `support.authenticate(token)` checks a JWT inside the
//! database and makes its `sub` the current user for the current transaction
//! only (cleared at commit and abort, and when the savepoint it was called in
//! is rolled back), which is what transaction-pooling connection poolers need.
//!
//! Keys live in `support.jwt_keys`, readable by nobody but its owner; the
//! cryptography is the `jsonwebtoken` crate (RustCrypto backend). A key is
//! checked when it is stored (`support.check_jwt_key`, called by a trigger).
//!
//! A refused token tells its holder only that it is invalid (28000): whether
//! its `kid` exists, how many keys use its algorithm or which claim failed
//! goes to the server log, never to the client.

use std::cell::RefCell;
use std::ffi::c_void;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pgrx::prelude::*;
use serde::Deserialize;

use crate::errors;
use crate::errors::OrRaise;
use crate::plans::column;

thread_local! {
    /// Identities verified in the current transaction, innermost last, each
    /// with the subtransaction that verified it.
    static VERIFIED: RefCell<Vec<(pgrx::Uuid, pg_sys::SubTransactionId)>> = const { RefCell::new(Vec::new()) };
}

/// The identity verified in this transaction (the latest one that still stands).
pub(crate) fn current() -> Option<pgrx::Uuid> {
    VERIFIED.with(|v| v.borrow().last().map(|(id, _)| *id))
}

/// [`current`] without a panic (None: the list is being changed right now).
pub(crate) fn current_quick() -> Option<Option<pgrx::Uuid>> {
    VERIFIED
        .try_with(|v| v.try_borrow().ok().map(|v| v.last().map(|(id, _)| *id)))
        .ok()
        .flatten()
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut c_void) {
    if crate::transaction_ends(event) {
        VERIFIED.with(|v| v.borrow_mut().clear());
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    my_subid: pg_sys::SubTransactionId,
    parent_subid: pg_sys::SubTransactionId,
    _arg: *mut c_void,
) {
    use pg_sys::SubXactEvent::*;
    VERIFIED.with(|v| {
        let mut v = v.borrow_mut();
        match event {
            // A rolled-back savepoint takes the identities verified in it (and
            // in its children, which have larger ids) with it.
            SUBXACT_EVENT_ABORT_SUB => v.retain(|(_, sub)| *sub < my_subid),
            // A released savepoint hands its identities to its parent.
            SUBXACT_EVENT_COMMIT_SUB => {
                for entry in v.iter_mut().filter(|(_, sub)| *sub == my_subid) {
                    entry.1 = parent_subid;
                }
            }
            _ => {}
        }
    });
}

/// Registers the transaction callbacks (once per backend, from _PG_init).
pub fn init() {
    // SAFETY: plain registration of C callbacks that live as long as the library.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

/// A row of support.jwt_keys.
pub(crate) struct Key {
    pub kid: String,
    pub alg: String,
    pub material: String,
    pub audience: Option<String>,
    pub issuer: Option<String>,
}

/// Why a token was refused: the token (28000) or the DBA's key row (22023).
#[derive(Debug)]
pub(crate) enum Refusal {
    Token(String),
    Key { kid: String, why: String },
}

/// The active keys with id `kid`, or without one, of algorithm `header_alg`.
fn read_keys(kid: Option<&str>, header_alg: &str) -> crate::errors::Result<Vec<Key>> {
    const COLUMNS: &str =
        "SELECT k.kid, k.alg, k.key, k.audience, k.issuer FROM support.jwt_keys AS k";
    Spi::connect(|client| {
        let table = match kid {
            Some(kid) => client.select(
                &format!("{COLUMNS} WHERE k.kid OPERATOR(pg_catalog.=) $1 AND k.active"),
                None,
                &[kid.into()],
            )?,
            None => client.select(
                &format!("{COLUMNS} WHERE k.alg OPERATOR(pg_catalog.=) $1 AND k.active"),
                None,
                &[header_alg.into()],
            )?,
        };
        table
            .map(|row| {
                Ok(Key {
                    kid: column(&row, 1, "jwt_keys.kid")?,
                    alg: column(&row, 2, "jwt_keys.alg")?,
                    material: column(&row, 3, "jwt_keys.key")?,
                    audience: row.get::<String>(4)?,
                    issuer: row.get::<String>(5)?,
                })
            })
            .collect()
    })
}

/// The active key a token names (by kid, else the only active key of its
/// algorithm).
fn lookup_key(kid: Option<&str>, header_alg: &str) -> Result<Key, String> {
    let rows = read_keys(kid, header_alg).or_raise();
    match (kid, rows.len()) {
        (_, 1) => Ok(rows.into_iter().next().expect("one row")),
        (Some(kid), _) => Err(format!("unknown or inactive key id {kid:?}")),
        (None, n) => Err(format!(
            "the token has no kid and {n} active keys use {header_alg} (give each key a kid and sign with it)"
        )),
    }
}

fn algorithm_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::EdDSA => "EdDSA",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        _ => "another algorithm",
    }
}

/// The shortest HMAC secret we accept for an algorithm: the hash size
/// (RFC 7518 section 3.2).
fn min_secret_bytes(alg: &str) -> Option<usize> {
    match alg {
        "HS256" => Some(32),
        "HS384" => Some(48),
        "HS512" => Some(64),
        _ => None,
    }
}

fn decoding_key(key: &Key) -> Result<(Algorithm, DecodingKey), Refusal> {
    let bad = |why: String| Refusal::Key {
        kid: key.kid.clone(),
        why,
    };
    if let Some(min) = min_secret_bytes(&key.alg) {
        let len = key.material.len();
        if len < min {
            return Err(bad(format!(
                "a {} secret needs at least {min} bytes, this one has {len}",
                key.alg
            )));
        }
    }
    Ok(match key.alg.as_str() {
        "HS256" => (
            Algorithm::HS256,
            DecodingKey::from_secret(key.material.as_bytes()),
        ),
        "HS384" => (
            Algorithm::HS384,
            DecodingKey::from_secret(key.material.as_bytes()),
        ),
        "HS512" => (
            Algorithm::HS512,
            DecodingKey::from_secret(key.material.as_bytes()),
        ),
        "EdDSA" => (
            Algorithm::EdDSA,
            DecodingKey::from_ed_pem(key.material.as_bytes())
                .map_err(|e| bad(format!("not an Ed25519 public key in PEM ({e})")))?,
        ),
        "ES256" => (
            Algorithm::ES256,
            DecodingKey::from_ec_pem(key.material.as_bytes())
                .map_err(|e| bad(format!("not a P-256 public key in PEM ({e})")))?,
        ),
        other => return Err(bad(format!("unsupported algorithm {other}"))),
    })
}

#[derive(Deserialize)]
struct TokenClaims {
    sub: serde_json::Value,
}

/// Checks `token` with the key `find_key` gives for its header; returns its
/// subject. Pure apart from `find_key`, so the parser can be property-tested.
pub(crate) fn check_token(
    token: &str,
    find_key: impl FnOnce(Option<&str>, &str) -> Result<Key, String>,
) -> Result<pgrx::Uuid, Refusal> {
    let token = token.trim();
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| Refusal::Token(format!("malformed token ({e})")))?;
    let header_alg = algorithm_name(header.alg);
    let key = find_key(header.kid.as_deref(), header_alg).map_err(Refusal::Token)?;
    let (alg, decoding_key) = decoding_key(&key)?;
    // Algorithm confusion (e.g. an HS256 token "signed" with a public key):
    // the key decides the algorithm, never the token.
    if alg != header.alg {
        return Err(Refusal::Token(format!(
            "the token says {header_alg} but key {:?} is {}",
            key.kid, key.alg
        )));
    }
    let mut validation = Validation::new(alg);
    validation.leeway = 30;
    validation.validate_nbf = true;
    validation.set_required_spec_claims(&["exp", "sub"]);
    match &key.audience {
        Some(aud) => validation.set_audience(&[aud]),
        None => validation.validate_aud = false,
    }
    if let Some(iss) = &key.issuer {
        validation.set_issuer(&[iss]);
    }
    let data = jsonwebtoken::decode::<TokenClaims>(token, &decoding_key, &validation)
        .map_err(|e| Refusal::Token(describe(e.kind())))?;
    match data.claims.sub {
        serde_json::Value::String(sub) => uuid::Uuid::try_parse(sub.trim())
            .map(|u| pgrx::Uuid::from_bytes(u.into_bytes()))
            .map_err(|_| Refusal::Token("its subject is not a UUID".into())),
        _ => Err(Refusal::Token("its subject is not a string".into())),
    }
}

fn describe(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind::*;
    match kind {
        InvalidSignature => "signature does not verify".into(),
        ExpiredSignature => "token has expired (exp)".into(),
        ImmatureSignature => "token is not valid yet (nbf)".into(),
        InvalidAudience => "wrong audience (aud)".into(),
        InvalidIssuer => "wrong issuer (iss)".into(),
        InvalidAlgorithm => "algorithm not allowed for this key".into(),
        MissingRequiredClaim(c) => format!("missing claim {c}"),
        other => format!("malformed token ({other:?})"),
    }
}

/// Verifies `token` against support.jwt_keys; raises 28000 on any failure,
/// with the reason in the server log only.
pub(crate) fn verify(token: &str) -> pgrx::Uuid {
    match check_token(token, lookup_key) {
        Ok(user) => user,
        Err(Refusal::Token(why)) => errors::token_rejected(&why),
        Err(Refusal::Key { kid, why }) => {
            errors::token_rejected(&format!("support.jwt_keys row {kid:?} is unusable: {why}"))
        }
    }
}

/// Does `key` work as a key for its algorithm? Decoding a PEM only unwraps it;
/// the point is parsed when a verifier is built, so build one: an error here is
/// a bad key, a signature that does not verify is a good one.
pub(crate) fn key_problem(key: &Key) -> Option<String> {
    let (alg, decoding_key) = match decoding_key(key) {
        Ok(k) => k,
        Err(Refusal::Key { why, .. } | Refusal::Token(why)) => return Some(why),
    };
    match jsonwebtoken::crypto::verify("AAAA", b"probe", &decoding_key, alg) {
        Ok(_) => None,
        Err(e) => Some(format!("not a usable {} key ({e})", key.alg)),
    }
}

/// `support.check_jwt_key(kid, alg, key)`: raises 22023 when the key is too
/// short for its HMAC algorithm or does not parse as its public-key algorithm.
/// Called by the `jwt_keys_check` trigger, so a bad key is refused when it is
/// stored, not at first use.
#[pg_extern(stable, parallel_safe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn check_jwt_key(kid: Option<&str>, alg: Option<&str>, key: Option<&str>) {
    let (Some(alg), Some(material)) = (alg, key) else {
        return; // NOT NULL constraints report missing values
    };
    let key = Key {
        kid: kid.unwrap_or_default().to_owned(),
        alg: alg.to_owned(),
        material: material.to_owned(),
        audience: None,
        issuer: None,
    };
    if !matches!(alg, "HS256" | "HS384" | "HS512" | "EdDSA" | "ES256") {
        return; // the CHECK constraint jwt_keys_alg_valid reports it (23514)
    }
    if let Some(why) = key_problem(&key) {
        errors::bad_key(&key.kid, why);
    }
}

/// `support.authenticate(token)`: verifies a JWT against `support.jwt_keys`
/// and makes its `sub` the current user until the end of the transaction.
#[pg_extern(volatile, security_definer, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn authenticate(token: &str) -> pgrx::Uuid {
    let user = verify(token);
    // SAFETY: reads the current subtransaction id; always valid in a transaction.
    let sub = unsafe { pg_sys::GetCurrentSubTransactionId() };
    VERIFIED.with(|v| v.borrow_mut().push((user, sub)));
    user
}

/// Whether identity comes only from verified tokens.
pub(crate) fn settings_ignored() -> bool {
    crate::gucs::identity_mode() == crate::gucs::IdentityMode::Verified
}

/// Property tests of token checking (plain #[test], no server needed).
#[cfg(test)]
mod property_tests {
    use super::{check_token, Key, Refusal};
    use crate::tests::random::Rng;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

    const SECRET: &str = "property-test-secret-of-32-bytes-at-least";

    fn key() -> Key {
        Key {
            kid: "k".into(),
            alg: "HS256".into(),
            material: SECRET.into(),
            audience: None,
            issuer: None,
        }
    }

    #[test]
    fn random_tokens_are_refused_without_panicking() {
        let mut rng = Rng::new(0x5eed_0003);
        for i in 0..20_000 {
            let token = match i % 3 {
                0 => rng.text(400),
                1 => format!("{}.{}.{}", rng.base64(60), rng.base64(200), rng.base64(43)),
                _ => format!(
                    "eyJhbGciOiJIUzI1NiJ9.{}.{}",
                    rng.base64(120),
                    rng.base64(43)
                ),
            };
            match check_token(&token, |_, _| Ok(key())) {
                Err(Refusal::Token(_)) => {}
                other => panic!("{token:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn a_valid_token_verifies_and_any_tampering_is_refused() {
        let mut rng = Rng::new(0x5eed_0004);
        let exp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            + 600;
        for _ in 0..200 {
            let bytes = rng.bytes16();
            let id = uuid::Uuid::from_bytes(bytes);
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("k".into());
            let token = encode(
                &header,
                &serde_json::json!({"sub": id.to_string(), "exp": exp}),
                &EncodingKey::from_secret(SECRET.as_bytes()),
            )
            .expect("sign");
            assert_eq!(
                check_token(&token, |_, _| Ok(key())).ok(),
                Some(pgrx::Uuid::from_bytes(bytes))
            );
            // Flip one character anywhere: never accepted as the same or another user.
            let mut chars: Vec<char> = token.chars().collect();
            let at = rng.below(chars.len());
            chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
            let tampered: String = chars.into_iter().collect();
            if tampered != token {
                assert!(
                    check_token(&tampered, |_, _| Ok(key())).is_err(),
                    "tampered at {at}: {tampered}"
                );
            }
        }
    }
}
