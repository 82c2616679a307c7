//! PostgreSQL functions that the policies' per-row check calls, declared
//! here without pgrx's error guard (pgrx wraps every `pg_sys` call in a
//! `sigsetjmp`, which cost more than the rest of the check). Each one only
//! returns a field of backend-local state and cannot raise an error, so
//! there is nothing to guard. Also the in-line comparison that check uses.

use pgrx::pg_sys;

unsafe extern "C" {
    /// snapmgr.c: is there an active snapshot?
    pub(crate) fn ActiveSnapshotSet() -> bool;
    /// snapmgr.c: the active snapshot (only when [`ActiveSnapshotSet`]).
    pub(crate) fn GetActiveSnapshot() -> pg_sys::Snapshot;
    /// xact.c: the top transaction's id, 0 while it has none.
    pub(crate) fn GetTopTransactionIdIfAny() -> pg_sys::TransactionId;
    /// xact.c: the current subtransaction's id.
    pub(crate) fn GetCurrentSubTransactionId() -> pg_sys::SubTransactionId;
    /// guc.c (PostgreSQL 15): its array of settings, sorted by name.
    #[cfg(not(feature = "pg18"))]
    pub(crate) fn get_guc_variables() -> *mut *mut pg_sys::config_generic;
    /// guc.c (PostgreSQL 15): the length of that array.
    #[cfg(not(feature = "pg18"))]
    pub(crate) fn GetNumConfigOptions() -> i32;
    /// guc.c (PostgreSQL 16 and later keep the settings in a hash table):
    /// the setting named, or NULL; with `create_placeholders` false and
    /// `skip_errors` true it only looks up.
    #[cfg(feature = "pg18")]
    pub(crate) fn find_option(
        name: *const std::ffi::c_char,
        create_placeholders: bool,
        skip_errors: bool,
        elevel: i32,
    ) -> *mut pg_sys::config_generic;
}

/// Equal slices, compared in line without an early exit, so that the
/// compiler neither calls libc's `memcmp` (whose call cost more than the rest
/// of the per-row check, mostly on empty and short slices) nor branches per
/// element.
pub(crate) fn same<T>(a: &[T], b: &[T]) -> bool
where
    T: Copy + Default + PartialEq + std::ops::BitXor<Output = T> + std::ops::BitOr<Output = T>,
{
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .fold(T::default(), |diff, (&x, &y)| diff | (x ^ y))
            == T::default()
}
