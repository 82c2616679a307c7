//! Helpers shared by the out-of-process tests of conversations_ext (tests/): a running cluster and connections to it, fixtures, seeded randomness, whole-database checksums, event replay, catalog and privilege snapshots, the permission matrix, the reference model and the adversarial world.

pub mod adversarial;
pub mod catalog;
pub mod checksum;
pub mod citus;
pub mod cluster;
pub mod doc_examples;
pub mod events;
pub mod fixture;
pub mod matrix;
pub mod model;
pub mod outcome;
pub mod prelude;
pub mod privileges;
pub mod rng;
pub mod roles;
pub mod session;
