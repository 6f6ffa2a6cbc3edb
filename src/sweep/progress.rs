//! Sweep progress: an indicatif bar on a terminal, a plain line every few seconds otherwise.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often the plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub struct Progress {
    bar: Option<ProgressBar>,
    plain: Option<Mutex<(Instant, usize)>>,
    total: usize,
    started: Instant,
}

impl Progress {
    /// Progress over `total` points; nothing is shown when `quiet`.
    pub fn new(total: usize, quiet: bool) -> Progress {
        let started = Instant::now();
        if quiet || total == 0 {
            return Progress {
                bar: None,
                plain: None,
                total,
                started,
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:40.cyan/blue} {pos}/{len} points  {elapsed_precise} elapsed, ETA {eta}  {msg}")
                    .expect("constant template")
                    .progress_chars("█▉ "),
            );
            Progress {
                bar: Some(bar),
                plain: None,
                total,
                started,
            }
        } else {
            Progress {
                bar: None,
                plain: Some(Mutex::new((started, 0))),
                total,
                started,
            }
        }
    }

    /// Records a finished point and its p99 (ms).
    pub fn point_done(&self, id: usize, p99_ms: f64) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("latest: point {id}, p99 {p99_ms:.2} ms"));
        }
        if let Some(plain) = &self.plain {
            let mut state = plain.lock().unwrap_or_else(|e| e.into_inner());
            state.1 += 1;
            let done = state.1;
            if state.0.elapsed() >= PLAIN_EVERY || done == self.total {
                state.0 = Instant::now();
                let elapsed = self.started.elapsed().as_secs_f64();
                let eta = elapsed / done as f64 * (self.total - done) as f64;
                eprintln!(
                    "{done}/{} points, {elapsed:.0} s elapsed, ETA {eta:.0} s; latest: point {id}, p99 {p99_ms:.2} ms",
                    self.total
                );
            }
        }
    }

    /// Prints a warning without breaking the bar.
    pub fn warn(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
