//! The program's errors and their exit codes: 0 success, 1 runtime failure, 2 bad input or usage.

use crate::model::ModelError;
use crate::output::OutputError;

/// Exit code for a runtime failure (an output that could not be written).
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for bad input: a malformed model or argument.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code after Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: u8 = 130;

/// Anything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The command ran but its result is a failure (e.g. a validation check failed).
    #[error("{0}")]
    Failed(String),
    /// Stopped by Ctrl-C or SIGTERM; what was finished has been written.
    #[error("interrupted: {0}")]
    Interrupted(String),
    /// A command-line argument that clap accepted but meshsim cannot use.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Model(_) | Error::Usage(_) => EXIT_BAD_INPUT,
            Error::Output(_) | Error::Failed(_) => EXIT_FAILURE,
            Error::Interrupted(_) => EXIT_INTERRUPTED,
        }
    }
}
