//! The errors our functions raise: one place that maps each failure to its
//! documented SQLSTATE (see the README's error table).

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::spi::SpiError;
use pgrx::PgSqlErrorCode;

/// A failure inside the extension itself (not a refusal): an SPI call that
/// failed, or a value the database returned that the code cannot read.
/// Internal functions return it with `?`; the SQL-callable function at the
/// top raises it (XX000, naming what failed).
#[derive(Debug)]
pub enum Internal {
    Spi(SpiError),
    /// A column that must not be NULL (or must be one of a closed set) was not.
    Unexpected {
        what: &'static str,
        value: String,
    },
}

impl From<SpiError> for Internal {
    fn from(e: SpiError) -> Self {
        Internal::Spi(e)
    }
}

pub type Result<T> = std::result::Result<T, Internal>;

impl Internal {
    /// Raises the failure as an ERROR (XX000) with what failed in the DETAIL.
    pub fn raise(self) -> ! {
        let detail = match &self {
            Internal::Spi(e) => format!("SPI: {e}"),
            Internal::Unexpected { what, value } => format!("{what}: unexpected value {value}"),
        };
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            "conversations_ext: internal error",
            "conversations_ext",
        )
        .set_detail(detail)
        .report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// Unwraps an internal result at the SQL boundary: a value, or the ERROR.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| e.raise())
    }
}

fn report(code: PgSqlErrorCode, message: String, detail: Option<String>, hint: Option<&str>) -> ! {
    let mut report = ErrorReport::new(code, message, "conversations_ext");
    if let Some(detail) = detail {
        report = report.set_detail(detail);
    }
    if let Some(hint) = hint {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

fn raise(code: PgSqlErrorCode, message: String, hint: Option<&str>) -> ! {
    report(code, message, None, hint)
}

/// 28000: the function needs an end user and none is set. `ignored` names an
/// identity setting that holds a value an earlier transaction left.
pub fn no_identity(ignored: Option<&str>) -> ! {
    let message = match ignored {
        None => "no current user: this function needs an end-user identity".to_owned(),
        Some(setting) => format!(
            "no current user: {setting} was not set in this transaction (a session-level value is ignored)"
        ),
    };
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
        message,
        Some(
            "Set the identity inside the transaction: SET LOCAL support.user_id = '<uuid>', set_config('request.jwt.claims', '<json>', true), or support.authenticate(token).",
        ),
    )
}

/// 22P02: an identity setting holds something that is not an identity.
pub fn bad_identity(source: &str, why: String) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        format!("invalid end-user identity in {source}: {why}"),
        Some("The subject must be a user id in UUID form, e.g. 6f1c1c1e-8f0e-4c57-9b7f-0a2f6f0b9f11."),
    )
}

/// P0002: no conversation with that id is visible to the caller. Raised
/// identically for ids that do not exist and ids of other workspaces.
pub fn conversation_not_found(id: pgrx::Uuid) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
        format!("conversation {id} not found"),
        None,
    )
}

/// 55006: another agent owns the conversation.
pub fn already_claimed(id: pgrx::Uuid) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_OBJECT_IN_USE,
        format!("conversation {id} is already claimed by another agent"),
        Some("Take the next waiting one with support.claim_next_conversation(workspace_id)."),
    )
}

/// 55000: the requested transition is not allowed from the current state
/// (the message names both, which is all a caller needs to decide).
pub fn invalid_transition(id: pgrx::Uuid, current: &str, requested: &str, allowed_from: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!("conversation {id} is {current}: cannot {requested} it (only from {allowed_from})"),
        None,
    )
}

/// P0002: the caller is not a member of that workspace (or it does not exist).
pub fn workspace_not_found(id: pgrx::Uuid) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_NO_DATA_FOUND,
        format!("workspace {id} not found"),
        None,
    )
}

/// 42501: the caller's workspace role may not perform the action.
pub fn role_cannot(role: &str, action: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("workspace role {role} cannot {action} conversations"),
        Some("See docs/permissions.md for who may do what."),
    )
}

/// 42501: a write the caller's workspace role (or authorship) does not allow,
/// with the rule in the message.
pub fn refused(message: String, hint: Option<&str>) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        message,
        hint,
    )
}

/// 42501: only the owner of a claimed conversation, or a supervisor, may do this.
pub fn not_owner(id: pgrx::Uuid, action: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("conversation {id} is claimed by another agent: only its owner or an admin or owner of the workspace can {action} it"),
        None,
    )
}

/// 42501: a transfer to a member who cannot own conversations (a viewer or a bot).
pub fn target_cannot_own(user: pgrx::Uuid, role: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("user {user} (workspace role {role}) cannot own conversations"),
        Some("Transfer to a human agent, admin or owner of the workspace."),
    )
}

/// 22023: a transfer target outside the conversation's workspace.
pub fn target_not_member(user: pgrx::Uuid) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("user {user} is not a member of the conversation's workspace"),
        None,
    )
}

/// 28000: support.authenticate() refused the token. The client learns only
/// that it is invalid; the reason goes to the server log (LOG_SERVER_ONLY is
/// never sent to a client, whatever its client_min_messages).
pub fn token_rejected(why: &str) -> ! {
    ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
        format!("support.authenticate refused a token: {why}"),
        "conversations_ext",
    )
    .report(PgLogLevel::LOG_SERVER_ONLY);
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
        "invalid token".into(),
        None,
    )
}

/// 22023: a key stored in support.jwt_keys is not usable (a DBA error, told
/// to the DBA who stores it).
pub fn bad_key(kid: &str, why: String) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
        format!("support.jwt_keys row {kid:?}: {why}"),
        None,
    )
}

/// 2BP01: DROP EXTENSION would delete tenant data.
pub fn drop_would_lose_data(tables: &str) -> ! {
    report(
        PgSqlErrorCode::ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST,
        "cannot drop conversations_ext's tables: they hold data".into(),
        Some(format!("Tables with rows: {tables}.")),
        Some(
            "DROP EXTENSION conversations_ext, DROP SCHEMA support and DROP TABLE of a support table delete \
             tenant data. Take a backup, then in the same transaction: SET LOCAL support.allow_drop_with_data = on \
             (superuser only).",
        ),
    )
}
