//! The errors our functions raise: one place that maps each failure to its
//! documented SQLSTATE (see the README's error table).

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

fn raise(code: PgSqlErrorCode, message: String, hint: Option<&str>) -> ! {
    let mut report = ErrorReport::new(code, message, "conversations_ext");
    if let Some(hint) = hint {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// 28000: the function needs an end user and none is set.
pub fn no_identity() -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
        "no current user: this function needs an end-user identity".into(),
        Some("Set request.jwt.claims (PostgREST), request.jwt.claim.sub, or support.user_id for the transaction."),
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
        None,
    )
}

/// 55000: the requested transition is not allowed from the current state.
pub fn invalid_transition(id: pgrx::Uuid, current: &str, requested: &str) -> ! {
    raise(
        PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
        format!("conversation {id} is {current}: cannot {requested} it"),
        None,
    )
}
