//! `host-example`: parse the command line, run it, print the outcome.

use std::process::ExitCode;

use clap::Parser;
use host_example::commands::{Cli, report};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // Logs go to stderr, filtered by RUST_LOG (`RUST_LOG=info`, `RUST_LOG=host_example=debug`);
    // without it, none: errors are reported once, on one line, by `report`.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    report(Cli::parse().execute())
}
