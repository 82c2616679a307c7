//! The fuzzer: one random call at a time at every Rust entry point reachable from SQL, each outcome recorded against what the entry point documents.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use pg_test::fixture::{U1, W1, W2};
use pg_test::outcome::{preview, state_of_error as db_error_state};
use pg_test::rng::Rng;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use crate::inputs::*;
use crate::tally::Tally;
use crate::HS_SECRET;

pub struct Fuzz {
    pub app: Client,
    pub su: Client,
    pub rng: Rng,
    pub tally: Tally,
    pub conversations: Vec<String>,
    pub members: Vec<String>,
    /// Whether the verification keys could be installed.
    pub has_keys: bool,
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

    /// HS256 signature of `signing_input` with the test's secret, base64url.
    fn hs256(signing_input: &str) -> String {
        jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_secret(HS_SECRET.as_bytes()),
            Algorithm::HS256,
        )
        .expect("HS256 signature")
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
                        b64(&rng.bytes(len))
                    })
                    .collect();
                (parts.join("."), Want::Invalid)
            }
            2 => (
                format!(
                    "{}.{}.{}",
                    b64(&rng.bytes(40)),
                    b64(&rng.bytes(600_000)),
                    b64(&rng.bytes(32))
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
                let sig = b64(&rng.bytes(sig_len));
                (
                    format!("{}.{}.{sig}", b64(h.as_bytes()), b64(p.as_bytes())),
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
                let input = format!("{}.{}", b64(h.as_bytes()), b64(p.as_bytes()));
                let sig = Self::hs256(&input);
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
                preview(&String::from_utf8_lossy(
                    &URL_SAFE_NO_PAD.decode(payload).unwrap_or_default()
                ))
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
            1 => {
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
            _ => {
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
        }
    }

    pub async fn step(&mut self) -> bool {
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
            66..=89 => self.authenticate().await,
            _ => self.superuser_entry().await,
        }
    }
}

/// base64url without padding, as JWTs use.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}
