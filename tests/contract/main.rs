//! Contract tests: the real component, loaded by the real host, against the promises
//! in `wit/` and the README.

mod support;

mod cli;
mod component;
mod failures;
mod file_storage;
mod ordering;
mod records;
mod regression;
mod traps;
