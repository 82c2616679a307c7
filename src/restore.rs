//! Restore mode: how the triggers tell a restore (pg_restore, a pg_dump
//! script) from everything else, so that restored rows are taken as given and
//! write no events, while no application role can ever reach that mode.

use pgrx::prelude::*;

use crate::errors::OrRaise;

/// `support.restoring()`: true while a role that bypasses row-level security
/// (superuser, BYPASSRLS, or a member of the tables' owner) runs with
/// `row_security = off` — what pg_dump scripts and pg_restore do. The triggers
/// then take rows as given and write no events (the dump carries them).
///
/// The role asked is the *outer* one (`SET ROLE`, not the owner a SECURITY
/// DEFINER function runs as): an application role that sets
/// `row_security = off` and calls a lifecycle function is not restoring, so
/// its change is audited.
#[pg_extern(stable, parallel_restricted, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn restoring() -> bool {
    // SAFETY: reads a GUC variable of the backend.
    if unsafe { pg_sys::row_security } {
        return false;
    }
    bypasses_row_security()
}

/// `support.bypasses_row_security()`: whether the *outer* role (as for
/// [`restoring`]) bypasses row-level security on the support tables: a
/// superuser, a BYPASSRLS role or a member of the tables' owner. A SECURITY
/// DEFINER trigger asks it to tell the DBA's own writes from an application
/// role's, which the policies check.
#[pg_extern(stable, parallel_restricted, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn bypasses_row_security() -> bool {
    // SAFETY: plain reads of the backend's role state and the role catalog.
    let outer = unsafe { pg_sys::GetOuterUserId() };
    if unsafe { pg_sys::superuser_arg(outer) || pg_sys::has_bypassrls_privilege(outer) } {
        return true;
    }
    let owns: Result<Option<bool>, _> = Spi::get_one_with_args::<bool>(
        "SELECT pg_catalog.pg_has_role($1, c.relowner, 'USAGE') FROM pg_catalog.pg_class AS c \
          WHERE c.oid OPERATOR(pg_catalog.=) 'support.conversations'::pg_catalog.regclass",
        &[outer.into()],
    );
    owns.map_err(crate::errors::Internal::from).or_raise() == Some(true)
}
