//! support.authenticate(): valid tokens of every supported algorithm, every
//! way a token can be wrong (each 28000, no identity), verified mode, and
//! identity that does not survive a rolled-back savepoint.

#[pgrx::pg_schema]
mod tests {
    use crate::tests::*;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

    // Test-only key pairs (generated with openssl for these tests).
    const ED_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINvkOJRBDPlmlQGwGl6dQveimHX63QSDdmCci75mqROm\n-----END PRIVATE KEY-----\n";
    const ED_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAa/txV+qziQ8HxEoQo7la/kmzrX9SUnBkEKAn1BZnaco=\n-----END PUBLIC KEY-----\n";
    const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgsBuBx0t+rkiGU3a4\nu6ejmlTa2C+/W+P6sFBrfZ6hunOhRANCAAStjI2rWVW5ZFSZUVNlc7TxxN1GPHSP\nel/vhyzrs3G/680qwHd8x+nPjTdwiJ2X7T0W4j07P3fXIBzgAKizNfXt\n-----END PRIVATE KEY-----\n";
    const EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAErYyNq1lVuWRUmVFTZXO08cTdRjx0\nj3pf74cs67Nxv+vNKsB3fMfpz403cIidl+09FuI9Oz931yAc4ACoszX17Q==\n-----END PUBLIC KEY-----\n";
    /// {"alg":"none"} with sub U1: unsigned.
    const NONE_TOKEN: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJiMTAwMDAwMC0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDEiLCJleHAiOjQxMDI0NDQ4MDB9.";

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    fn claims(sub: &str) -> serde_json::Value {
        serde_json::json!({"sub": sub, "exp": now() + 600, "aud": "support-app", "iss": "https://auth.example"})
    }

    fn token(
        alg: Algorithm,
        kid: Option<&str>,
        key: &EncodingKey,
        body: &serde_json::Value,
    ) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        encode(&header, body, key).unwrap_or_else(|e| panic!("cannot sign test token: {e}"))
    }

    fn hs(kid: Option<&str>, secret: &str, body: &serde_json::Value) -> String {
        token(
            Algorithm::HS256,
            kid,
            &EncodingKey::from_secret(secret.as_bytes()),
            body,
        )
    }

    fn install_keys() {
        Spi::run_with_args(
            "INSERT INTO support.jwt_keys (kid, alg, key, audience, issuer, active) VALUES
               ('hs1', 'HS256', 'secret-one-of-at-least-thirty-two-bytes', 'support-app', 'https://auth.example', true),
               ('hs2', 'HS256', 'secret-two-of-at-least-thirty-two-bytes', NULL, NULL, true),
               ('old', 'HS256', 'retired-key-of-at-least-thirty-two-bytes', NULL, NULL, false),
               ('ed1', 'EdDSA', $1, NULL, NULL, true),
               ('es1', 'ES256', $2, NULL, NULL, true)",
            &[ED_PUBLIC.into(), EC_PUBLIC.into()],
        )
        .unwrap_or_else(|e| panic!("keys: {e}"));
    }

    fn authenticate(token: &str) -> String {
        sqlstate(&format!(
            "SELECT support.authenticate({})",
            pgrx::spi::quote_literal(token)
        ))
    }

    fn who() -> String {
        value::<String>("SELECT coalesce(support.current_user_id()::text, 'nobody')")
            .unwrap_or_default()
    }

    #[pg_test]
    fn every_bad_token_is_refused_with_28000_and_no_identity() {
        fixture();
        install_keys();
        run("SET LOCAL support.identity_mode = 'verified'");
        as_user(U1); // the settings say U1, but verified mode ignores them
        reset_identity();
        let good = claims(U1);
        let cases: Vec<(&str, String)> = vec![
            ("bad signature", hs(Some("hs1"), "not-the-secret", &good)),
            ("alg none", NONE_TOKEN.to_string()),
            (
                "algorithm confusion: HS256 signed with the Ed25519 public key",
                hs(Some("ed1"), ED_PUBLIC, &good),
            ),
            (
                "unknown kid",
                hs(
                    Some("nope"),
                    "secret-one-of-at-least-thirty-two-bytes",
                    &good,
                ),
            ),
            (
                "inactive kid",
                hs(
                    Some("old"),
                    "retired-key-of-at-least-thirty-two-bytes",
                    &good,
                ),
            ),
            (
                "expired",
                hs(
                    Some("hs1"),
                    "secret-one-of-at-least-thirty-two-bytes",
                    &serde_json::json!({"sub": U1, "exp": now() - 3600, "aud": "support-app", "iss": "https://auth.example"}),
                ),
            ),
            (
                "not yet valid",
                hs(
                    Some("hs1"),
                    "secret-one-of-at-least-thirty-two-bytes",
                    &serde_json::json!({"sub": U1, "exp": now() + 7200, "nbf": now() + 3600, "aud": "support-app", "iss": "https://auth.example"}),
                ),
            ),
            (
                "wrong audience",
                hs(
                    Some("hs1"),
                    "secret-one-of-at-least-thirty-two-bytes",
                    &serde_json::json!({"sub": U1, "exp": now() + 600, "aud": "someone-else", "iss": "https://auth.example"}),
                ),
            ),
            (
                "wrong issuer",
                hs(
                    Some("hs1"),
                    "secret-one-of-at-least-thirty-two-bytes",
                    &serde_json::json!({"sub": U1, "exp": now() + 600, "aud": "support-app", "iss": "https://evil.example"}),
                ),
            ),
            (
                "no exp",
                hs(
                    Some("hs2"),
                    "secret-two-of-at-least-thirty-two-bytes",
                    &serde_json::json!({"sub": U1}),
                ),
            ),
            (
                "sub not a UUID",
                hs(
                    Some("hs2"),
                    "secret-two-of-at-least-thirty-two-bytes",
                    &serde_json::json!({"sub": "admin", "exp": now() + 600}),
                ),
            ),
            ("malformed", "not.a.token".to_string()),
            ("empty", String::new()),
            ("garbage", "\u{1F600}".repeat(1000)),
        ];
        for (name, tok) in &cases {
            assert_eq!(authenticate(tok), "28000", "{name}");
            assert_eq!(who(), "nobody", "{name}: no identity after a refused token");
            // The holder learns that the token is invalid, nothing more: not
            // whether its kid exists, nor which check failed.
            let msg = error_of(&format!(
                "SELECT support.authenticate({})",
                pgrx::spi::quote_literal(tok)
            ));
            assert_eq!(msg.as_deref(), Some("28000: invalid token"), "{name}");
        }
        assert_eq!(count("SELECT 1 FROM support.conversations"), 0);
        // Positive control: the good token does identify U1.
        assert_eq!(
            authenticate(&hs(
                Some("hs1"),
                "secret-one-of-at-least-thirty-two-bytes",
                &good
            )),
            "00000"
        );
        assert_eq!(who(), U1);
        assert_eq!(
            texts("SELECT id FROM support.conversations"),
            ids(&[C1, C3])
        );
    }

    #[pg_test]
    fn weak_or_unparsable_keys_are_refused_when_stored() {
        fixture();
        // RFC 7518 section 3.2: an HMAC key at least as long as the hash.
        for (alg, min) in [("HS256", 32), ("HS384", 48), ("HS512", 64)] {
            let short = "k".repeat(min - 1);
            let enough = "k".repeat(min);
            let insert = |kid: &str, key: &str| {
                sqlstate(&format!(
                    "INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('{kid}', '{alg}', '{key}')"
                ))
            };
            assert_eq!(insert(&format!("{alg}-empty"), ""), "22023", "{alg} empty");
            assert_eq!(
                insert(&format!("{alg}-short"), &short),
                "22023",
                "{alg} {}",
                min - 1
            );
            // Positive control: the minimum length is accepted.
            assert_eq!(
                insert(&format!("{alg}-ok"), &enough),
                "00000",
                "{alg} {min}"
            );
            // An UPDATE cannot weaken a stored key either.
            assert_eq!(
                sqlstate(&format!(
                    "UPDATE support.jwt_keys SET key = '{short}' WHERE kid = '{alg}-ok'"
                )),
                "22023"
            );
        }
        let pem = |alg: &str, key: &str| {
            sqlstate(&format!(
                "INSERT INTO support.jwt_keys (kid, alg, key) VALUES ('{alg}-x', '{alg}', {})",
                pgrx::spi::quote_literal(key)
            ))
        };
        // Public keys must parse as what alg says.
        assert_eq!(pem("EdDSA", "not a key"), "22023");
        assert_eq!(
            pem("ES256", ED_PUBLIC),
            "22023",
            "an Ed25519 key is not a P-256 key"
        );
        assert_eq!(
            pem("EdDSA", &ED_PUBLIC.replace("naco=", "=")),
            "22023",
            "corrupted PEM"
        );
        assert_eq!(
            count("SELECT 1 FROM support.jwt_keys WHERE kid LIKE '%-x'"),
            0
        );
        // Positive control: the real keys are accepted.
        assert_eq!(pem("EdDSA", ED_PUBLIC), "00000");
        assert_eq!(pem("ES256", EC_PUBLIC), "00000");
    }

    #[pg_test]
    fn every_algorithm_and_rotated_keys_verify() {
        fixture();
        install_keys();
        run("SET LOCAL support.identity_mode = 'verified'");
        run(&format!("SET LOCAL ROLE {APP_ROLE}"));
        let ed = EncodingKey::from_ed_pem(ED_PRIVATE.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let ec = EncodingKey::from_ec_pem(EC_PRIVATE.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let body = serde_json::json!({"sub": U2, "exp": now() + 600});
        assert_eq!(
            authenticate(&token(Algorithm::EdDSA, Some("ed1"), &ed, &body)),
            "00000"
        );
        assert_eq!(who(), U2);
        assert_eq!(
            texts("SELECT id FROM support.conversations"),
            ids(&[C2, C4])
        );
        let body = serde_json::json!({"sub": A1, "exp": now() + 600});
        assert_eq!(
            authenticate(&token(Algorithm::ES256, Some("es1"), &ec, &body)),
            "00000"
        );
        assert_eq!(who(), A1);
        // Two HS256 keys active at once (rotation): both verify by kid.
        assert_eq!(
            authenticate(&hs(
                Some("hs2"),
                "secret-two-of-at-least-thirty-two-bytes",
                &serde_json::json!({"sub": U1, "exp": now() + 600})
            )),
            "00000"
        );
        assert_eq!(who(), U1);
        // Without kid, ambiguous between two active HS256 keys: refused.
        assert_eq!(
            authenticate(&hs(
                None,
                "secret-two-of-at-least-thirty-two-bytes",
                &serde_json::json!({"sub": U2, "exp": now() + 600})
            )),
            "28000"
        );
        assert_eq!(who(), U1);
    }

    #[pg_test]
    fn verified_mode_ignores_forged_settings() {
        fixture();
        install_keys();
        run(&format!("SET LOCAL ROLE {APP_ROLE}"));
        // Application roles cannot choose the mode, nor read the keys.
        assert_eq!(
            sqlstate("SET LOCAL support.identity_mode = 'claims'"),
            "42501"
        );
        assert_eq!(sqlstate("SELECT * FROM support.jwt_keys"), "42501");
        run("RESET ROLE");
        run("SET LOCAL support.identity_mode = 'verified'");
        run(&format!("SET LOCAL ROLE {APP_ROLE}"));
        for (name, v) in [
            ("request.jwt.claims", format!(r#"{{"sub":"{U1}"}}"#)),
            ("request.jwt.claim.sub", U1.to_string()),
            ("support.user_id", U1.to_string()),
        ] {
            reset_identity();
            Spi::run_with_args(
                "SELECT set_config($1, $2, true)",
                &[name.into(), v.as_str().into()],
            )
            .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(who(), "nobody", "{name} must be ignored in verified mode");
            assert_eq!(count("SELECT 1 FROM support.conversations"), 0, "{name}");
            assert_eq!(
                sqlstate(&format!("SELECT support.claim_conversation('{C3}')")),
                "28000",
                "{name}"
            );
        }
        // Positive control: in claims mode the same forged setting works (that is the PostgREST contract).
        run("RESET ROLE");
        run("SET LOCAL support.identity_mode = 'claims'");
        run(&format!("SET LOCAL ROLE {APP_ROLE}"));
        assert_eq!(who(), U1);
    }

    #[pg_test]
    fn identity_dies_with_its_savepoint() {
        fixture();
        install_keys();
        run("SET LOCAL support.identity_mode = 'verified'");
        let tok = hs(
            Some("hs2"),
            "secret-two-of-at-least-thirty-two-bytes",
            &serde_json::json!({"sub": U1, "exp": now() + 600}),
        );
        // authenticate succeeds, then the same subtransaction fails: rolled back, identity gone.
        assert_eq!(
            sqlstate(&format!(
                "SELECT support.authenticate({}); SELECT 1/0",
                pgrx::spi::quote_literal(&tok)
            )),
            "22012"
        );
        assert_eq!(who(), "nobody");
        // A subtransaction that commits hands the identity to its parent.
        assert_eq!(authenticate(&tok), "00000");
        assert_eq!(who(), U1);
    }
}
