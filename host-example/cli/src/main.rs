//! `host-example`: parse the command line, run it, print the outcome.

use std::process::ExitCode;

use clap::Parser;
use host_example::commands::{Cli, report};

fn main() -> ExitCode {
    report(Cli::parse().execute())
}
