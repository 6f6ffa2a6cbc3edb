//! Ctrl-C (SIGINT) and SIGTERM: the first asks running work to stop cleanly (finished results are
//! kept, the exit code is 130); a second one exits at once.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Installs the handler; call once at start-up. Failure (another handler exists) is ignored:
/// the default behaviour, exiting at once, then remains.
pub fn install_handler() {
    let _ = ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
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
