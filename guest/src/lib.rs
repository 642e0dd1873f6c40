//! The pipeline-checkpoint component: persists a stream pipeline's resume offset and
//! acknowledges each batch only after its offset is durable.
//!
//! Built for `wasm32-wasip2` it is a component exporting `pipeline:checkpoint/manager`
//! and importing only `storage`, `consumer` and `wasi:clocks/wall-clock`. Built for the
//! host it is an ordinary library whose logic is unit-tested and benchmarked natively.
//!
//! # Layout
//! - [`json`]: a strict JSON scanner that reads fields without converting numbers.
//! - [`record`]: the JSON record, a cheap encoder and a strict decoder.
//! - [`manager`]: the ordering logic (read, refuse regressions, put, then ack).
//! - `component`: the wit-bindgen glue between the WIT world and [`manager`]
//!   (wasm only).
//!
//! The global allocator, `cabi_realloc` and the panic handler that a `no_std`
//! component needs come from `runtime/` (`pipeline-checkpoint-guest-runtime`), which
//! the test components link too.

// No std on wasm: std would make the component import a dozen WASI interfaces (cli,
// io, filesystem…) that it never uses, breaking least authority.
#![cfg_attr(target_arch = "wasm32", no_std)]
#![deny(missing_docs)]

extern crate alloc;

pub mod json;
pub mod manager;
pub mod record;

#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
use pipeline_checkpoint_guest_runtime as _;

pub use manager::{CheckpointError, CheckpointManager, Expected, RecordStore, Stored};
pub use record::{DEFAULT_KEY, Record, RecordFault, WallTime};
