//! Contract tests of the host library: the real component, loaded by the real host,
//! against the promises in `wit/` and the README. The CLI's whole-process tests are in
//! `tests/cli/`.

mod support;

mod blocking;
mod cancellation;
mod component;
mod etcd;
mod etcd_cluster;
mod failures;
mod fairness;
mod faults;
mod file_storage;
mod fuzz;
mod hostile;
mod object_storage;
mod ordering;
mod records;
mod redis;
mod regression;
mod sqlite;
mod sqlite_groups;
mod sqlite_ownership;
mod sqlite_power_cut;
mod store_properties;
mod tenants;
mod traps;
mod unversioned;

use pipeline_checkpoint_test_support::{etcd as etcd_server, seeded};
