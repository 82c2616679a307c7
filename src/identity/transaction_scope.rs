//! Which settings the current transaction changed: the part of identity
//! resolution that reads PostgreSQL's own settings table, and so depends on
//! the server version (PostgreSQL 15 here).

use std::cmp::Ordering;
use std::ffi::CStr;

use pgrx::prelude::*;

/// guc.c's name order: ASCII case-insensitive, byte by byte (no allocation:
/// this runs for every identity lookup, i.e. every statement under RLS).
fn guc_name_order(a: &CStr, b: &CStr) -> Ordering {
    a.to_bytes()
        .iter()
        .map(u8::to_ascii_lowercase)
        .cmp(b.to_bytes().iter().map(u8::to_ascii_lowercase))
}

/// Did the current transaction change this setting (`SET`, `SET LOCAL`,
/// `set_config()`, a function's `SET` clause)? PostgreSQL keeps, for every
/// setting changed inside the open transaction, a stack of the values to
/// restore at its end (`config_generic.stack`, pushed by guc.c's
/// `push_old_value`, popped by `AtEOXact_GUC`); a value that only survives
/// from an earlier transaction or from the session's defaults has none.
/// PostgreSQL 15 keeps `guc_variables` sorted by name (guc.c's `find_option`
/// searches it the same way).
pub(super) fn set_in_this_transaction(name: &CStr) -> bool {
    // SAFETY: guc.c's array of `GetNumConfigOptions()` pointers to live
    // config_generic structs, each with a NUL-terminated name; read only,
    // within this call, on the backend's own thread.
    unsafe {
        let vars = pg_sys::get_guc_variables();
        let count = usize::try_from(pg_sys::GetNumConfigOptions()).unwrap_or(0);
        if vars.is_null() || count == 0 {
            return false;
        }
        let vars = std::slice::from_raw_parts(vars, count);
        match vars.binary_search_by(|&var| guc_name_order(CStr::from_ptr((*var).name), name)) {
            Ok(i) => !(*vars[i]).stack.is_null(),
            Err(_) => false,
        }
    }
}
