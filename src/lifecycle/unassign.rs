//! A member who can no longer own conversations (demoted to viewer) gives up
//! their claims: back to `escalated`, each with an `unassigned` event. Called
//! by the `workspace_members_audit` trigger, so every path (the membership
//! functions, the DBA's direct UPDATE) does it.
//!
//! The UPDATE must see claims that committed after the transaction's snapshot,
//! or a demotion under REPEATABLE READ would leave a conversation claimed by a
//! viewer. So it runs the way PostgreSQL runs its own foreign-key actions
//! (ri_triggers.c): against the latest snapshot, and, when the transaction
//! uses one snapshot throughout (REPEATABLE READ, SERIALIZABLE), with that
//! snapshot as the cross-check, so a claim it could not see is a
//! serialization failure (40001) instead of a silent miss.

use std::ffi::{c_char, CString};

use pgrx::prelude::*;

use crate::errors::{Internal, OrRaise, Result};

const UNASSIGN: &str = "UPDATE support.conversations AS c \
        SET status = 'escalated', claimed_by = NULL, claimed_at = NULL \
      WHERE c.workspace_id OPERATOR(pg_catalog.=) $1 \
        AND c.claimed_by OPERATOR(pg_catalog.=) $2 \
        AND c.status OPERATOR(pg_catalog.=) 'claimed'";

fn unassign(workspace_id: pgrx::Uuid, user_id: pgrx::Uuid) -> Result<u64> {
    let sql = CString::new(UNASSIGN).expect("no NUL in a constant");
    Spi::connect_mut(|_client| {
        // SAFETY: inside the SPI connection pgrx opened; the plan, datums and
        // snapshots live until SPI_execute_snapshot returns (SPI_finish, at
        // the end of connect_mut, frees the plan).
        unsafe {
            let mut types = [pg_sys::UUIDOID, pg_sys::UUIDOID];
            let plan = pg_sys::SPI_prepare(sql.as_ptr(), 2, types.as_mut_ptr());
            if plan.is_null() {
                return Err(Internal::Unexpected {
                    what: "SPI_prepare of the unassign statement",
                    value: format!("{}", std::ptr::addr_of!(pg_sys::SPI_result).read()),
                });
            }
            let mut values = [
                workspace_id.into_datum().expect("a uuid is a datum"),
                user_id.into_datum().expect("a uuid is a datum"),
            ];
            let nulls = [b' ' as c_char; 2];
            let (snapshot, crosscheck) =
                if pg_sys::XactIsoLevel >= pg_sys::XACT_REPEATABLE_READ as i32 {
                    pg_sys::CommandCounterIncrement();
                    (
                        pg_sys::GetLatestSnapshot(),
                        pg_sys::GetTransactionSnapshot(),
                    )
                } else {
                    (std::ptr::null_mut(), std::ptr::null_mut())
                };
            let rc = pg_sys::SPI_execute_snapshot(
                plan,
                values.as_mut_ptr(),
                nulls.as_ptr(),
                snapshot,
                crosscheck,
                false,
                true,
                0,
            );
            if rc != pg_sys::SPI_OK_UPDATE as i32 {
                return Err(Internal::Unexpected {
                    what: "SPI_execute_snapshot of the unassign statement",
                    value: format!("{rc}"),
                });
            }
            Ok(pg_sys::SPI_processed)
        }
    })
}

/// `support.unassign_claims(workspace_id, user_id)`: returns every
/// conversation the member holds in the workspace to the queue; the number
/// returned. Internal (trigger); not granted to application roles.
#[pg_extern(volatile, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn unassign_claims(workspace_id: pgrx::Uuid, user_id: pgrx::Uuid) -> i64 {
    i64::try_from(unassign(workspace_id, user_id).or_raise()).unwrap_or(i64::MAX)
}
