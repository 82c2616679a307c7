//! SPI statements prepared once per backend and kept (`SPI_keepplan`). The
//! plan cache re-plans a kept statement when the tables, indexes or policies it
//! depends on change, so keeping them is always correct; it saves the parse and
//! plan of every call, which dominates the cost of our short statements.

use std::cell::RefCell;
use std::collections::HashMap;

use pgrx::datum::{DatumWithOid, FromDatum, IntoDatum};
use pgrx::pg_sys::PgOid;
use pgrx::prelude::*;
use pgrx::spi::{OwnedPreparedStatement, SpiHeapTupleData, SpiTupleTable};

use crate::errors::{Internal, Result};

const UUID: PgOid = PgOid::BuiltIn(pg_sys::BuiltinOid::UUIDOID);
/// The type of a text parameter.
pub(crate) const TEXT: PgOid = PgOid::BuiltIn(pg_sys::BuiltinOid::TEXTOID);
/// Parameter types of statements taking one, two or three uuids.
pub(crate) const UUID1: &[PgOid] = &[UUID];
pub(crate) const UUID2: &[PgOid] = &[UUID, UUID];
pub(crate) const UUID3: &[PgOid] = &[UUID, UUID, UUID];

thread_local! {
    static PLANS: RefCell<HashMap<String, OwnedPreparedStatement>> = RefCell::new(HashMap::new());
}

/// Runs `sql` (parameters typed `types`) with a kept plan and hands the rows
/// to `f`. `mutating` statements (UPDATE, SELECT … FOR UPDATE) run read-write;
/// the others read-only, as a STABLE function's queries must.
///
/// The plan is taken out of the cache while it runs, so a nested call (a
/// trigger or policy reaching Rust again) never finds it borrowed: it simply
/// prepares its own.
pub(crate) fn run<R>(
    sql: &str,
    types: &[PgOid],
    mutating: bool,
    args: &[DatumWithOid],
    f: impl FnOnce(SpiTupleTable) -> Result<R>,
) -> Result<R> {
    let cached = PLANS.with(|p| p.borrow_mut().remove(sql));
    Spi::connect_mut(|client| {
        let plan = match cached {
            Some(plan) => plan,
            None if mutating => client.prepare_mut(sql, types)?.keep(),
            None => client.prepare(sql, types)?.keep(),
        };
        let rows = if mutating {
            client.update(&plan, None, args)
        } else {
            client.select(&plan, None, args)
        };
        // Keep the plan whatever happened to this execution.
        PLANS.with(|p| p.borrow_mut().insert(sql.to_owned(), plan));
        f(rows?)
    })
}

/// Column `ordinal` of `row`, which the statement guarantees is not NULL
/// (a NULL is an internal error naming `what`, never a silent default).
pub(crate) fn column<T: IntoDatum + FromDatum>(
    row: &SpiHeapTupleData,
    ordinal: usize,
    what: &'static str,
) -> Result<T> {
    row.get::<T>(ordinal)?.ok_or(Internal::Unexpected {
        what,
        value: "NULL".into(),
    })
}
