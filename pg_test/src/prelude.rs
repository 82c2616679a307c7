//! The helpers nearly every test uses, in one import: `use pg_test::prelude::*;`.

pub use crate::cluster::{
    connect, connect_as, connect_listening, connect_with, default_version, extension_version,
    recreate_database, Target,
};
pub use crate::fixture::{
    agent_id, connect_app, empty_database, escalated_conversations, fresh_database, APP_ROLE, U1,
    U2, W1, W2,
};
pub use crate::session::{
    as_role_user, as_user, as_user_batch, as_user_one, count_as, error_message,
    is_missing_privilege, pairs, set_local_user, sqlstate, texts,
};
