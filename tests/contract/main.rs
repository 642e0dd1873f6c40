//! Contract tests: the real component, loaded by the real host, against the promises
//! in `wit/` and the README.

mod support;

mod cli;
mod component;
mod crash_loop;
mod damaged_state;
mod etcd;
mod etcd_server;
mod failures;
mod faults;
mod fencing;
mod file_storage;
mod fuzz;
mod hostile;
mod observer;
mod ordering;
mod power_cut;
mod records;
mod regression;
mod seeded;
mod tenants;
mod traps;
