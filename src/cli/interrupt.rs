//! Ctrl-C (SIGINT) and SIGTERM: the first asks running work to stop cleanly (finished results are
//! kept, the exit code is 130); a second one exits at once.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// When the first signal came.
static FIRST: OnceLock<Instant> = OnceLock::new();

/// A second signal sooner than this after the first is the same interruption delivered twice,
/// not a second press: `timeout` (and a shell's job control) signals the command and then its
/// whole process group, and `timeout 60 meshsim run …` lost every result to it.
const SAME_INTERRUPTION: Duration = Duration::from_millis(500);

/// Installs the handler; call once at start-up. Failure (another handler exists) is ignored:
/// the default behaviour, exiting at once, then remains.
pub fn install_handler() {
    let _ = ctrlc::set_handler(|| {
        let first = *FIRST.get_or_init(Instant::now);
        if REQUESTED.swap(true, Ordering::SeqCst) {
            if first.elapsed() < SAME_INTERRUPTION {
                return;
            }
            eprintln!("\ninterrupted again: exiting now");
            std::process::exit(i32::from(crate::error::EXIT_INTERRUPTED));
        }
        eprintln!("\ninterrupted: finishing cleanly (press Ctrl-C again to exit at once)…");
    });
}

/// Whether an interruption was requested.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

/// The stop request that runs, searches and sweeps started from the command line obey.
pub fn cancel() -> crate::sim::Cancel {
    crate::sim::Cancel::on(&REQUESTED)
}
