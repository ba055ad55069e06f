use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    eventscope::process::allocator::tune();
    eventscope::cli::run(eventscope::cli::Cli::parse())
}
