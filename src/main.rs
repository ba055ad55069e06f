use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    eventscope::process::tune();
    eventscope::cli::run(eventscope::cli::Cli::parse())
}
