//! `DROP EXTENSION conversations_ext` drops every table with all tenant data,
//! and so do `DROP SCHEMA support CASCADE` and a `DROP TABLE` of one of its
//! tables. An event trigger on `ddl_command_start` refuses them while any
//! `support` table holds rows, unless `support.allow_drop_with_data`
//! (superuser only) is on. It is written against the C event-trigger API
//! because only the parse tree says what a DROP names (the query text does
//! not, e.g. under dynamic SQL), and a `sql_drop` trigger of the extension
//! itself does not fire once the extension is gone.

use std::ffi::CStr;

use pgrx::prelude::*;
use pgrx::PgList;

use crate::errors;
use crate::errors::{OrRaise, Result};
use crate::gucs::ALLOW_DROP_WITH_DATA;
use crate::plans::column;

#[no_mangle]
pub extern "C" fn pg_finfo_conversations_ext_drop_guard() -> &'static pg_sys::Pg_finfo_record {
    const V1: pg_sys::Pg_finfo_record = pg_sys::Pg_finfo_record { api_version: 1 };
    &V1
}

/// The text of a `String` node, if `node` is one.
unsafe fn string_node(node: *mut pg_sys::Node) -> Option<&'static [u8]> {
    if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_String {
        return None;
    }
    let sval = (*(node as *mut pg_sys::String)).sval;
    (!sval.is_null()).then(|| CStr::from_ptr(sval).to_bytes())
}

/// Is the table a (possibly qualified) name list resolves to in schema support?
unsafe fn names_support_table(names: *mut pg_sys::Node) -> bool {
    if names.is_null() || (*names).type_ != pg_sys::NodeTag::T_List {
        return false;
    }
    let support = pg_sys::get_namespace_oid(c"support".as_ptr(), true);
    if support == pg_sys::InvalidOid {
        return false;
    }
    let range_var = pg_sys::makeRangeVarFromNameList(names as *mut pg_sys::List);
    let relid = pg_sys::RangeVarGetRelidExtended(
        range_var,
        pg_sys::NoLock as _,
        pg_sys::RVROption::RVR_MISSING_OK as _,
        None,
        std::ptr::null_mut(),
    );
    relid != pg_sys::InvalidOid && pg_sys::get_rel_namespace(relid) == support
}

/// Would this DROP statement drop our tables: DROP EXTENSION
/// conversations_ext, DROP SCHEMA support, or DROP TABLE of a support table?
unsafe fn drops_us(tree: *mut pg_sys::Node) -> bool {
    if tree.is_null() || (*tree).type_ != pg_sys::NodeTag::T_DropStmt {
        return false;
    }
    let stmt = tree as *mut pg_sys::DropStmt;
    let names = PgList::<pg_sys::Node>::from_pg((*stmt).objects);
    let found = match (*stmt).removeType {
        pg_sys::ObjectType::OBJECT_EXTENSION => names
            .iter_ptr()
            .any(|node| string_node(node) == Some(b"conversations_ext")),
        pg_sys::ObjectType::OBJECT_SCHEMA => names
            .iter_ptr()
            .any(|node| string_node(node) == Some(b"support")),
        pg_sys::ObjectType::OBJECT_TABLE => names.iter_ptr().any(|node| names_support_table(node)),
        _ => false,
    };
    found
}

/// The support tables that hold at least one row (EXISTS: no full scans).
/// Only tables whose rows are data (the ones pg_dump keeps, the extension's
/// configuration tables): derived state such as membership_versions is
/// rebuilt, never lost.
fn tables_with_rows() -> Result<Vec<String>> {
    Spi::connect(|client| {
        let tables = client
            .select(
                "SELECT c.relname::text FROM pg_catalog.pg_class AS c \
                  WHERE c.relnamespace OPERATOR(pg_catalog.=) 'support'::pg_catalog.regnamespace \
                    AND c.relkind OPERATOR(pg_catalog.=) 'r' \
                    AND c.oid OPERATOR(pg_catalog.=) ANY ( \
                        SELECT pg_catalog.unnest(e.extconfig) FROM pg_catalog.pg_extension AS e \
                         WHERE e.extname OPERATOR(pg_catalog.=) 'conversations_ext') \
                  ORDER BY 1",
                None,
                &[],
            )?
            .map(|row| column::<String>(&row, 1, "pg_class.relname"))
            .collect::<Result<Vec<String>>>()?;
        let mut full = Vec::new();
        for table in tables {
            let sql = format!(
                "SELECT EXISTS (SELECT 1 FROM support.{})",
                pgrx::spi::quote_identifier(&table)
            );
            let has_rows = match client.select(&sql, Some(1), &[])?.next() {
                Some(row) => column::<bool>(&row, 1, "EXISTS")?,
                None => false,
            };
            if has_rows {
                full.push(format!("support.{table}"));
            }
        }
        Ok(full)
    })
}

/// Can the current user drop the extension at all (superuser or owner)? If
/// not, DROP EXTENSION fails with its own permission error after us.
fn may_drop() -> Result<bool> {
    // SAFETY: plain catalog check of the current user.
    if unsafe { pg_sys::superuser() } {
        return Ok(true);
    }
    Ok(Spi::get_one::<bool>(
        "SELECT pg_catalog.pg_has_role(e.extowner, 'MEMBER') FROM pg_catalog.pg_extension AS e \
          WHERE e.extname OPERATOR(pg_catalog.=) 'conversations_ext'",
    )? == Some(true))
}

/// The event trigger function (`support.drop_guard()`): DROP EXTENSION,
/// DROP SCHEMA and DROP TABLE reach it.
///
/// # Safety
/// Called by PostgreSQL's fmgr as an event trigger.
#[no_mangle]
#[pg_guard]
pub unsafe extern "C-unwind" fn conversations_ext_drop_guard(
    fcinfo: pg_sys::FunctionCallInfo,
) -> pg_sys::Datum {
    let context = (*fcinfo).context;
    if context.is_null() || (*context).type_ != pg_sys::NodeTag::T_EventTriggerData {
        error!("support.drop_guard() can only be called as an event trigger");
    }
    let data = context as *mut pg_sys::EventTriggerData;
    if drops_us((*data).parsetree) && !ALLOW_DROP_WITH_DATA.get() && may_drop().or_raise() {
        let full = tables_with_rows().or_raise();
        if !full.is_empty() {
            errors::drop_would_lose_data(&full.join(", "));
        }
    }
    pg_sys::Datum::from(0)
}
