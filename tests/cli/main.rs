//! Whole-process tests of the real `host-example` binary: its commands and messages,
//! kill -9 crash loops, damaged state, power cuts, fencing of stale runs, the record
//! in etcd and object storage (S3, GCS, Azure), the pipeline against Redis Streams, and its metrics.

mod support;

mod cli;
mod concurrency;
mod crash_loop;
mod damaged_state;
mod etcd;
mod etcd_cluster;
mod fencing;
mod metrics;
mod misuse;
mod object_storage;
mod observer;
mod power_cut;
mod redis;
mod sqlite;

use pipeline_checkpoint_test_support::{etcd as etcd_server, seeded};
