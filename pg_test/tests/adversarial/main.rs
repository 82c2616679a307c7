//! The adversarial suite: hostile tenants attack the seeded world of pg_test::adversarial, one test per attack family.
//!
//! Each family builds the same world (same seed) in a database of its own,
//! runs its attacks and prints "adversarial <family>: N cases ran, 0 leaked".
//! Reproduce a run with `CX_SEED=<seed> pg_test/run.sh --test adversarial
//! [<family>]`; `CX_ADV_SCALE=<n>` multiplies the number of tenants and
//! operations; `CX_ADV_INJECT=<sql|viewer-may-write|viewers-are-agents>`
//! weakens the database after the world is built (the suite must fail).
//! Support staff are part of the world (pg_test::adversarial::staff); the
//! `staff` family attacks their rules in particular.

mod leaky_functions;
mod lifecycle_model;
mod lock_oracle;
mod matrix_writes;
mod privilege_escalation;
mod read_paths;
mod search_path_hijack;
mod staff;
mod write_paths;
