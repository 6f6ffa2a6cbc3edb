//! The `meshsim` command: parse arguments, run the command, turn errors into exit codes.

use clap::Parser;
use std::process::ExitCode;

/// Large allocations in huge pages: a large model's records are read at random on every event.
#[global_allocator]
static ALLOC: meshsim::engine::HugePages = meshsim::engine::HugePages;

fn main() -> ExitCode {
    // The small blocks in huge pages too (see the function).
    meshsim::engine::restart_with_huge_heap();
    let cli = meshsim::cli::Cli::parse();
    match meshsim::cli::execute(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
