//! Tenant-safe notifications (docs/security.md#notifications). `LISTEN`
//! channels are global and any role may listen on any name, so a workspace's
//! channel is a name nobody can derive without a server-side secret: HMAC-SHA256
//! of the workspace id under `support.notification_secret` (32 random bytes,
//! readable by the owner only), 128 bits of it in hex. Members obtain it
//! through `support.notification_channel(workspace_id)`; the triggers of
//! sql/58_notifications.sql send ids and kinds to it, delivered at commit.

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

/// The channel of `workspace_id`, from the stored secret.
fn channel_of_workspace(workspace_id: &pgrx::Uuid) -> errors::Result<String> {
    let secret = Spi::get_one::<Vec<u8>>("SELECT s.secret FROM support.notification_secret AS s")?;
    match secret {
        Some(secret) => Ok(channel(&secret, workspace_id)),
        None => Err(errors::Internal::Unexpected {
            what: "support.notification_secret",
            value: "no row".into(),
        }),
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
