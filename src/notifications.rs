//! Tenant-safe notifications (docs/security.md#notifications). `LISTEN`
//! channels are global and any role may listen on any name, so a workspace's
//! channel is a name nobody can derive without a server-side secret: HMAC-SHA256
//! of the workspace id under `support.notification_secret` (32 random bytes,
//! readable by the owner only), 128 bits of it in hex. Members obtain it
//! through `support.notification_channel(workspace_id)`; the triggers of
//! sql/58_notifications.sql send ids and kinds to it, delivered at commit.
//!
//! Every posted message derives a channel, so the secret is cached per
//! backend instead of read with SPI each time (that read cost about a tenth
//! of a message insert's throughput). Any change to the table (its trigger
//! calls [`notification_secret_changed`], and a TRUNCATE does the same by
//! itself) sends a relcache invalidation for it, at commit to every backend,
//! and at abort to the changing backend: the callback [`on_relcache`] then
//! forgets the cached secret, and the next channel reads it again.

use std::cell::RefCell;

use hmac::{Hmac, Mac};
use pgrx::prelude::*;
use sha2::Sha256;

use crate::errors::{self, OrRaise};
use crate::identity;
use crate::membership;

/// What the HMAC signs besides the workspace id: a channel name is good for
/// nothing else.
const CONTEXT: &[u8] = b"conversations_ext notification channel v1:";

/// `support.random_secret()`: 32 bytes from the operating system's random
/// source, for `support.notification_secret`. Internal (the install script
/// and `support.rotate_notification_secret()`).
#[pg_extern(volatile, parallel_safe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn random_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 32];
    if let Err(e) = getrandom::getrandom(&mut secret) {
        errors::Internal::Unexpected {
            what: "the operating system's random source",
            value: e.to_string(),
        }
        .raise();
    }
    secret
}

/// The channel of `workspace_id` under `secret`: "cx_" and 32 hex digits.
fn channel(secret: &[u8], workspace_id: &pgrx::Uuid) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(CONTEXT);
    mac.update(workspace_id.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("cx_{hex}")
}

thread_local! {
    /// The secret as last read, with the table's OID (what an invalidation names).
    static SECRET: RefCell<Option<(pg_sys::Oid, Vec<u8>)>> = const { RefCell::new(None) };
}

/// Relcache invalidation: of the secret's table (or of every relation), the
/// cached secret is forgotten.
#[pg_guard]
unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
    SECRET.with(|s| {
        if let Ok(mut s) = s.try_borrow_mut() {
            if relid == pg_sys::InvalidOid || s.as_ref().is_some_and(|(table, _)| *table == relid) {
                *s = None;
            }
        }
    });
}

/// Registers the invalidation callback (once per backend, from _PG_init).
pub fn init() {
    // SAFETY: plain registration of a C callback that lives as long as the library.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0)) };
}

/// The channel of `workspace_id`, from the secret (cached, see the module).
/// Invalidations that other backends committed are taken in first (as any
/// lock acquisition does; with none pending, a read of one shared flag), so
/// a rotation committed before this call is always used, also by a
/// transaction that began before it.
fn channel_of_workspace(workspace_id: &pgrx::Uuid) -> errors::Result<String> {
    // SAFETY: what every relation lock acquisition does, at a point where
    // the backend may rebuild its caches.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    if let Some(name) = SECRET.with(|s| {
        s.borrow()
            .as_ref()
            .map(|(_, secret)| channel(secret, workspace_id))
    }) {
        return Ok(name);
    }
    let (table, secret) = read_secret()?;
    let name = channel(&secret, workspace_id);
    SECRET.with(|s| *s.borrow_mut() = Some((table, secret)));
    Ok(name)
}

/// The secret and its table's OID, read under the latest snapshot, not the
/// statement's: an invalidation this backend has already processed (when
/// the read's lock on the table was taken) belongs to a change that such a
/// snapshot sees, so what is cached is never older than the last change
/// this backend was told of, whatever the isolation level.
fn read_secret() -> errors::Result<(pg_sys::Oid, Vec<u8>)> {
    const QUERY: &std::ffi::CStr = c"SELECT s.secret, 'support.notification_secret'::pg_catalog.regclass::pg_catalog.oid FROM support.notification_secret AS s";
    let missing = |value: &str| errors::Internal::Unexpected {
        what: "support.notification_secret",
        value: value.into(),
    };
    Spi::connect(|_client| {
        // SAFETY: SPI is connected for the closure's duration; the plan is
        // prepared (taking the table's lock) before the latest snapshot is
        // taken, and freed; the row's values are copied out (Vec<u8>, Oid)
        // before SPI's memory goes away.
        unsafe {
            let plan = pg_sys::SPI_prepare(QUERY.as_ptr(), 0, std::ptr::null_mut());
            if plan.is_null() {
                return Err(missing("SPI_prepare failed"));
            }
            let rc = pg_sys::SPI_execute_snapshot(
                plan,
                std::ptr::null_mut(),
                std::ptr::null(),
                pg_sys::GetLatestSnapshot(),
                std::ptr::null_mut(),
                true,
                false,
                2,
            );
            let table = pg_sys::SPI_tuptable;
            let processed = std::ptr::addr_of!(pg_sys::SPI_processed).read();
            let result = if rc != pg_sys::SPI_OK_SELECT as i32 || table.is_null() || processed != 1
            {
                Err(missing(&format!("{processed} rows (SPI code {rc})")))
            } else {
                let tuple = *(*table).vals;
                let desc = (*table).tupdesc;
                let mut null_secret = false;
                let mut null_oid = false;
                let secret = pg_sys::SPI_getbinval(tuple, desc, 1, &mut null_secret);
                let oid = pg_sys::SPI_getbinval(tuple, desc, 2, &mut null_oid);
                match (
                    Vec::<u8>::from_datum(secret, null_secret),
                    pg_sys::Oid::from_datum(oid, null_oid),
                ) {
                    (Some(secret), Some(oid)) => Ok((oid, secret)),
                    _ => Err(missing("NULL")),
                }
            };
            pg_sys::SPI_freeplan(plan);
            result
        }
    })
}

/// `support.notification_secret_changed()`: internal, for the trigger of
/// support.notification_secret: a relcache invalidation of the table, so
/// that every backend forgets the secret it cached (at commit; this backend
/// also at abort).
#[pg_extern(volatile, parallel_unsafe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn notification_secret_changed() {
    let table = Spi::get_one::<pg_sys::Oid>(
        "SELECT 'support.notification_secret'::pg_catalog.regclass::pg_catalog.oid",
    )
    .map_err(errors::Internal::from)
    .or_raise();
    if let Some(table) = table {
        // SAFETY: queues an invalidation message for a relation that exists.
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(table) };
    }
}

/// `support.notification_channel_of(workspace_id)`: internal, for the
/// notification triggers (SECURITY DEFINER, as the owner); never granted to
/// application roles, which would name any workspace's channel with it.
#[pg_extern(stable, security_definer, parallel_safe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn notification_channel_of(workspace_id: pgrx::Uuid) -> String {
    channel_of_workspace(&workspace_id).or_raise()
}

/// `support.notification_channel(workspace_id)`: the channel of a workspace
/// the current user reads (a member, or support staff serving it); P0002 for
/// any other workspace, as for one that does not exist; 28000 for nobody.
#[pg_extern(stable, security_definer, parallel_safe, requires = ["schema"])]
#[search_path(pg_catalog, pg_temp)]
pub fn notification_channel(workspace_id: pgrx::Uuid) -> String {
    let user = identity::require_current_user();
    let visible = membership::visible_workspaces(user).or_raise();
    if visible.binary_search(&workspace_id).is_err() {
        errors::workspace_not_found(workspace_id);
    }
    channel_of_workspace(&workspace_id).or_raise()
}

#[cfg(test)]
mod unit_tests {
    use super::channel;

    #[test]
    fn a_channel_is_a_short_name_that_depends_on_secret_and_workspace() {
        let w1 = pgrx::Uuid::from_bytes([1; 16]);
        let w2 = pgrx::Uuid::from_bytes([2; 16]);
        let a = channel(&[7; 32], &w1);
        assert_eq!(a.len(), 35, "{a}");
        assert!(a.starts_with("cx_") && a[3..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, channel(&[7; 32], &w1), "deterministic");
        assert_ne!(a, channel(&[7; 32], &w2), "per workspace");
        assert_ne!(a, channel(&[8; 32], &w1), "per secret");
    }
}
