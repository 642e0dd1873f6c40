//! `host-example`: a resumable pipeline whose checkpoints go through the
//! pipeline-checkpoint component, and the tools to inspect and repair its state.
//!
//! The binary (`src/main.rs`) only parses arguments and prints the outcome; everything
//! else is here, so the tests and benchmarks can use the pipeline directly.
//!
//! # Layout
//! - [`commands`]: the command line (clap) and each subcommand.
//! - [`pipeline`]: the resumable pipeline behind `run`: source, sink, ack log,
//!   resume; and against Redis Streams.
//! - [`metrics`]: Prometheus metrics of a run, served over HTTP.

pub mod commands;
pub mod metrics;
pub mod pipeline;
