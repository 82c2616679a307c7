//! Settings the DBA controls. Both are SUSET: an application role can neither
//! set them nor plant a placeholder value that survives the library's load.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};

/// Where `support.current_user_id()` takes the end user from.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IdentityMode {
    /// PostgREST-compatible: a token verified in this transaction, else the
    /// request.jwt.claims / request.jwt.claim.sub / support.user_id settings.
    #[name = c"claims"]
    Claims,
    /// Only a token verified by support.authenticate() in this transaction.
    #[name = c"verified"]
    Verified,
}

pub static IDENTITY_MODE: GucSetting<IdentityMode> =
    GucSetting::<IdentityMode>::new(IdentityMode::Claims);
pub static ALLOW_DROP_WITH_DATA: GucSetting<bool> = GucSetting::<bool>::new(false);

pub fn init() {
    GucRegistry::define_enum_guc(
        c"support.identity_mode",
        c"Where conversations_ext takes the end user from: claims (default) or verified.",
        c"claims: a token verified with support.authenticate() in this transaction, else the PostgREST \
          settings request.jwt.claims, request.jwt.claim.sub, support.user_id. verified: only a token \
          verified with support.authenticate() in this transaction; settings are ignored.",
        &IDENTITY_MODE,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"support.allow_drop_with_data",
        c"Allows DROP EXTENSION conversations_ext while its tables hold rows.",
        c"Set it with SET LOCAL in the transaction that drops the extension, after taking a backup.",
        &ALLOW_DROP_WITH_DATA,
        GucContext::Suset,
        GucFlags::default(),
    );
}

pub fn identity_mode() -> IdentityMode {
    IDENTITY_MODE.get()
}

/// Runs `f` with setting `name` at `value`, as a function's `SET` clause
/// would: restored when `f` returns (an error unwinds it with the
/// (sub)transaction, as for a `SET` clause). A `SET LOCAL` of another setting
/// made inside `f` outlives it.
pub(crate) fn with_setting<R>(
    name: &std::ffi::CStr,
    value: &std::ffi::CStr,
    f: impl FnOnce() -> R,
) -> R {
    // SAFETY: the same calls fmgr_security_definer makes for a SET clause.
    unsafe {
        let level = pgrx::pg_sys::NewGUCNestLevel();
        pgrx::pg_sys::set_config_option(
            name.as_ptr(),
            value.as_ptr(),
            pgrx::pg_sys::GucContext::PGC_USERSET,
            pgrx::pg_sys::GucSource::PGC_S_SESSION,
            pgrx::pg_sys::GucAction::GUC_ACTION_SAVE,
            true,
            0,
            false,
        );
        let result = f();
        pgrx::pg_sys::AtEOXact_GUC(true, level);
        result
    }
}
