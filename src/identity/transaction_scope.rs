//! Which settings the current transaction changed: the part of identity
//! resolution that reads PostgreSQL's own settings table, and so depends on
//! the server version. PostgreSQL 15 keeps the settings in a sorted array,
//! searched once per backend and then checked in place; PostgreSQL 18 in a
//! hash table, asked each time (`find_option`).

#[cfg(not(feature = "pg18"))]
use std::cell::Cell;
#[cfg(not(feature = "pg18"))]
use std::cmp::Ordering;
use std::ffi::{c_char, CStr};

use pgrx::prelude::*;

use crate::unguarded;

#[cfg(not(feature = "pg18"))]
/// guc.c's name order: ASCII case-insensitive, byte by byte (no allocation:
/// this runs for every identity lookup, i.e. every statement under RLS).
fn guc_name_order(a: &CStr, b: &CStr) -> Ordering {
    a.to_bytes()
        .iter()
        .map(u8::to_ascii_lowercase)
        .cmp(b.to_bytes().iter().map(u8::to_ascii_lowercase))
}

/// A setting as guc.c holds it: its current value (owned by guc.c, valid
/// until the setting changes; NULL for an unset string) and whether the
/// current transaction changed it (`SET`, `SET LOCAL`, `set_config()`, a
/// function's `SET` clause). PostgreSQL keeps, for every setting changed
/// inside the open transaction, a stack of the values to restore at its end
/// (`config_generic.stack`, pushed by guc.c's `push_old_value`, popped by
/// `AtEOXact_GUC`); a value that only survives from an earlier transaction or
/// from the session's defaults has none.
pub(super) struct Setting {
    pub(super) value: *const c_char,
    pub(super) in_transaction: bool,
}

/// Where setting number `which` (of the few identity settings) was found in
/// guc.c's array, while that array is the same: its address, its length and
/// the record in that slot. guc.c replaces a slot's record (a placeholder
/// defined by a module) or re-sorts the array (a new setting: a longer
/// array) but never frees a record that is still in its slot, so a slot that
/// still holds the remembered record holds that setting.
#[cfg(not(feature = "pg18"))]
#[derive(Clone, Copy)]
struct Slot {
    vars: *mut *mut pg_sys::config_generic,
    count: i32,
    /// None: no such setting in an array of this address and length.
    record: Option<(usize, *mut pg_sys::config_generic)>,
}

/// One slot per identity setting.
#[cfg(not(feature = "pg18"))]
const SLOTS: usize = super::SOURCES.len();

#[cfg(not(feature = "pg18"))]
thread_local! {
    static FOUND: Cell<[Option<Slot>; SLOTS]> = const { Cell::new([None; SLOTS]) };
}

/// Setting `name` (None: no such setting). `which` (below [`SLOTS`]) names it among
/// the identity settings, so that a lookup runs once per backend instead of
/// once per call: the policies resolve the identity for every row they check.
#[cfg(not(feature = "pg18"))]
pub(super) fn setting(which: usize, name: &CStr) -> Option<Setting> {
    // SAFETY: guc.c's array of `GetNumConfigOptions()` pointers to live
    // config_generic structs (each with a NUL-terminated name), read on the
    // backend's own thread; a remembered record is dereferenced only while
    // the array (same address and length) still holds it in its slot; a
    // string setting's record is a config_string.
    unsafe {
        let vars = unguarded::get_guc_variables();
        let count = unguarded::GetNumConfigOptions();
        if vars.is_null() || count <= 0 || which >= SLOTS {
            return None;
        }
        let remembered = FOUND.with(|f| f.get()[which]);
        let record = match remembered {
            Some(slot) if slot.vars == vars && slot.count == count => match slot.record {
                Some((at, record)) if *vars.add(at) == record => Some(record),
                Some(_) => find(which, name, vars, count),
                None => None,
            },
            _ => find(which, name, vars, count),
        }?;
        Some(read(record, name))
    }
}

/// Setting `name` (PostgreSQL 18): guc.c's hash table, asked each time.
#[cfg(feature = "pg18")]
pub(super) fn setting(_which: usize, name: &CStr) -> Option<Setting> {
    // SAFETY: a look-up that neither creates nor raises; the record lives in
    // guc.c's table, read on the backend's own thread.
    unsafe {
        let record = unguarded::find_option(name.as_ptr(), false, true, pg_sys::DEBUG5 as i32);
        (!record.is_null()).then(|| read(record, name))
    }
}

/// The current value of setting `record` (named `name`) and whether the
/// current transaction changed it.
///
/// # Safety
/// `record` is guc.c's live record of `name`.
unsafe fn read(record: *mut pg_sys::config_generic, name: &CStr) -> Setting {
    let value = if (*record).vartype == pg_sys::config_type::PGC_STRING {
        *(*record.cast::<pg_sys::config_string>()).variable as *const c_char
    } else {
        // Not a string setting (a module defined it otherwise): guc.c
        // formats it.
        pg_sys::GetConfigOption(name.as_ptr(), true, false)
    };
    Setting {
        value,
        in_transaction: !(*record).stack.is_null(),
    }
}

#[cfg(not(feature = "pg18"))]
/// Looks `name` up in guc.c's array (PostgreSQL 15 keeps it sorted by name,
/// and guc.c's `find_option` searches it the same way) and remembers where.
unsafe fn find(
    which: usize,
    name: &CStr,
    vars: *mut *mut pg_sys::config_generic,
    count: i32,
) -> Option<*mut pg_sys::config_generic> {
    let all = std::slice::from_raw_parts(vars, usize::try_from(count).unwrap_or(0));
    let record = all
        .binary_search_by(|&var| guc_name_order(CStr::from_ptr((*var).name), name))
        .ok()
        .map(|at| (at, all[at]));
    FOUND.with(|f| {
        let mut found = f.get();
        found[which] = Some(Slot {
            vars,
            count,
            record,
        });
        f.set(found);
    });
    record.map(|(_, record)| record)
}
