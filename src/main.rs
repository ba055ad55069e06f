use std::process::ExitCode;

use clap::Parser;

use eventscope::cli::{Cli, Command};

fn main() -> ExitCode {
    eventscope::allocator::tune();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Record(args)) => eventscope::headless::record_command(*args),
        Some(Command::Flows(args)) => eventscope::headless::flows_command(args),
        Some(Command::Replay(args)) => eventscope::replay::replay_command(*args),
        None => eventscope::gui::run(cli),
    }
}
