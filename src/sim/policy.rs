//! The run-time state of call policies: circuit breakers, retry budgets, back-off, bulkheads,
//! and the per-edge counts that `edges.csv` reports. Plain state machines, tested on their own.

use crate::engine::{Handle, SimRng, SimTime};
use crate::model::{Backoff, BreakerPolicy, CallPolicy, Jitter, RetryBudget, RetryPolicy};
use crate::stats::TimeWeighted;
use rand::RngExt;
use std::collections::VecDeque;

/// One logical call from a caller to a callee on an edge with a policy: it owns the attempts
/// (first try, retries, hedges) and succeeds with the first attempt that does.
#[derive(Clone, Copy, Debug)]
pub struct Exchange {
    /// The caller's call, waiting for this one.
    pub parent: Handle,
    pub endpoint: u32,
    pub edge: u32,
    /// When the first attempt was sent.
    pub started: crate::engine::SimTime,
    /// Attempts sent so far.
    pub attempts: u8,
    /// Attempts sent and neither answered nor timed out.
    pub live: u8,
    /// A retry is scheduled.
    pub retry_pending: bool,
    /// The outcome is decided (an attempt succeeded, or the call failed); attempts still live
    /// are wasted. The exchange is freed once none is left.
    pub done: bool,
    /// The request's origin and deadline, passed on to each attempt.
    pub origin: SimTime,
    pub deadline: SimTime,
}

/// What happened on one edge in the measured window (`repr(C)`: what every plain call counts
/// comes first, on the edge's first cache line).
#[derive(Clone, Debug, Default)]
#[repr(C)]
pub struct EdgeStats {
    /// Logical calls made (each may take several attempts).
    pub calls: u64,
    /// Attempts sent: first tries, retries and hedges.
    pub attempts: u64,
    /// Fire-and-forget calls sent (also counted in `calls`).
    pub detached: u64,
    pub retries: u64,
    pub hedges: u64,
    pub timeouts: u64,
    /// Attempts answered with an error.
    pub failures: u64,
    /// Calls failed fast by an open breaker.
    pub circuit_open: u64,
    /// Calls failed fast by a full bulkhead.
    pub bulkhead_rejected: u64,
    /// Retries not sent because the retry budget was spent.
    pub budget_exhausted: u64,
    /// Logical calls that failed after all their attempts.
    pub failed_calls: u64,
    /// Attempts whose response nobody used (timed out, or lost a hedging race) and the
    /// callee's processing time spent on them.
    pub wasted_attempts: u64,
    pub wasted_work_ns: u64,
    /// Fire-and-forget calls that failed at the callee or on the way, and the count and time
    /// from sending to the callee's end of work of those that succeeded (each measured when it
    /// was sent in the window).
    pub detached_failed: u64,
    pub detached_done: u64,
    pub detached_ns: u64,
}

/// The state of one edge.
///
/// In declaration order (`repr(C)`), on cache lines of its own: a plain call counts itself in
/// `stats` on the first line, not on lines spread over the 600-byte record. Whether the edge's
/// calls are plain is on each call's `Hop` (the plan), read before this record.
#[repr(C, align(64))]
pub struct EdgeState {
    /// Attempts in flight (for the bulkhead).
    pub in_flight: u32,
    pub stats: EdgeStats,
    pub policy: CallPolicy,
    pub breaker: Option<Breaker>,
    pub budget: Option<BudgetWindow>,
    /// Retries and timeouts since the start, warm-up included (for the time series).
    pub all_retries: u64,
    pub all_timeouts: u64,
}

impl EdgeState {
    pub fn new(policy: CallPolicy, warmup: SimTime) -> EdgeState {
        EdgeState {
            breaker: policy.breaker.clone().map(|p| Breaker::new(p, warmup)),
            budget: policy
                .retry
                .as_ref()
                .and_then(|r| r.budget)
                .map(BudgetWindow::new),
            policy,
            in_flight: 0,
            stats: EdgeStats::default(),
            all_retries: 0,
            all_timeouts: 0,
        }
    }
}

/// Where a circuit breaker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// A circuit breaker (closed → open → half-open → closed or open again).
pub struct Breaker {
    policy: BreakerPolicy,
    pub state: BreakerState,
    consecutive: u32,
    /// Outcomes of the last `window` calls while closed (true: failed).
    window: VecDeque<bool>,
    window_failures: u32,
    open_until: SimTime,
    probes_sent: u32,
    probes_ok: u32,
    /// 1 while open or half-open: its time average is the share of time calls were refused.
    pub open: TimeWeighted,
    /// Times it opened in the measured window.
    pub opened: u64,
    warmup: SimTime,
}

impl Breaker {
    pub fn new(policy: BreakerPolicy, warmup: SimTime) -> Breaker {
        Breaker {
            window: VecDeque::with_capacity(policy.window as usize),
            policy,
            state: BreakerState::Closed,
            consecutive: 0,
            window_failures: 0,
            open_until: SimTime::ZERO,
            probes_sent: 0,
            probes_ok: 0,
            open: TimeWeighted::new(warmup),
            opened: 0,
            warmup,
        }
    }

    /// Whether a call may go through at `now`; `Some(true)` when it goes as a half-open probe.
    pub fn allow(&mut self, now: SimTime) -> Option<bool> {
        match self.state {
            BreakerState::Closed => Some(false),
            BreakerState::Open if now >= self.open_until => {
                self.state = BreakerState::HalfOpen;
                self.probes_sent = 0;
                self.probes_ok = 0;
                self.allow(now)
            }
            BreakerState::Open => None,
            BreakerState::HalfOpen if self.probes_sent < self.policy.probe_calls => {
                self.probes_sent += 1;
                Some(true)
            }
            BreakerState::HalfOpen => None,
        }
    }

    /// Records the outcome of a call that went through; `probe` says whether it was a probe.
    pub fn record(&mut self, now: SimTime, failed: bool, probe: bool) {
        match self.state {
            BreakerState::Closed => {
                self.consecutive = if failed { self.consecutive + 1 } else { 0 };
                if self.window.len() == self.policy.window as usize
                    && self.window.pop_front() == Some(true)
                {
                    self.window_failures -= 1;
                }
                self.window.push_back(failed);
                self.window_failures += u32::from(failed);
                let by_count = self
                    .policy
                    .consecutive_failures
                    .is_some_and(|n| self.consecutive >= n);
                let by_rate = self.policy.failure_rate.is_some_and(|r| {
                    self.window.len() >= self.policy.min_calls as usize
                        && f64::from(self.window_failures) >= r * self.window.len() as f64
                });
                if by_count || by_rate {
                    self.trip(now);
                }
            }
            BreakerState::HalfOpen if probe => {
                if failed {
                    self.trip(now);
                } else {
                    self.probes_ok += 1;
                    if self.probes_ok >= self.policy.probe_calls {
                        self.close(now);
                    }
                }
            }
            // Late answers to calls sent before the breaker opened say nothing new.
            _ => {}
        }
    }

    fn trip(&mut self, now: SimTime) {
        if self.state == BreakerState::Closed {
            self.open.add(now, 1);
        }
        if now >= self.warmup {
            self.opened += 1;
        }
        self.state = BreakerState::Open;
        self.open_until = now + self.policy.open;
    }

    fn close(&mut self, now: SimTime) {
        self.open.add(now, -1);
        self.state = BreakerState::Closed;
        self.consecutive = 0;
        self.window.clear();
        self.window_failures = 0;
    }
}

/// Retries allowed over the last second: `ratio` × first attempts + `min_per_s`, counted in ten
/// buckets of 100 ms.
pub struct BudgetWindow {
    budget: RetryBudget,
    firsts: [u32; 10],
    retries: [u32; 10],
    /// The 100 ms bucket of the latest record.
    bucket: u64,
}

const BUCKET_NS: u64 = 100_000_000;

impl BudgetWindow {
    pub fn new(budget: RetryBudget) -> BudgetWindow {
        BudgetWindow {
            budget,
            firsts: [0; 10],
            retries: [0; 10],
            bucket: 0,
        }
    }

    /// Moves the window to `now`, clearing the buckets that fell out of it.
    fn roll(&mut self, now: SimTime) {
        let b = now.0 / BUCKET_NS;
        let stale = (b - self.bucket.min(b)).min(10);
        for k in 1..=stale {
            let i = ((self.bucket + k) % 10) as usize;
            self.firsts[i] = 0;
            self.retries[i] = 0;
        }
        self.bucket = self.bucket.max(b);
    }

    pub fn record_first(&mut self, now: SimTime) {
        self.roll(now);
        self.firsts[(self.bucket % 10) as usize] += 1;
    }

    /// Spends budget on a retry at `now`, if there is any left.
    pub fn try_retry(&mut self, now: SimTime) -> bool {
        self.roll(now);
        let firsts: u32 = self.firsts.iter().sum();
        let retries: u32 = self.retries.iter().sum();
        let allowed = self.budget.ratio * f64::from(firsts) + self.budget.min_per_s;
        if f64::from(retries) + 1.0 <= allowed {
            self.retries[(self.bucket % 10) as usize] += 1;
            true
        } else {
            false
        }
    }
}

/// The delay before attempt `attempts + 1`, after `attempts` attempts have been made.
pub fn backoff(retry: &RetryPolicy, attempts: u8, rng: &mut SimRng) -> SimTime {
    let d = match retry.backoff {
        Backoff::Constant => retry.base.0,
        Backoff::Exponential => {
            let shift = u32::from(attempts.saturating_sub(1)).min(40);
            retry.base.0.saturating_mul(1 << shift)
        }
    }
    .min(retry.max.0);
    let ns = match retry.jitter {
        Jitter::None => d,
        Jitter::Full => rng.random_range(0..=d),
        Jitter::Equal => d / 2 + rng.random_range(0..=d - d / 2),
    };
    SimTime(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: f64) -> SimTime {
        SimTime::from_millis_f64(x)
    }

    #[test]
    fn breaker_opens_fails_fast_and_recovers_through_half_open() {
        let mut b = Breaker::new(
            BreakerPolicy {
                consecutive_failures: Some(3),
                failure_rate: None,
                window: 20,
                min_calls: 20,
                open: ms(100.0),
                probe_calls: 2,
            },
            SimTime::ZERO,
        );
        for _ in 0..3 {
            assert_eq!(b.allow(ms(1.0)), Some(false));
            b.record(ms(1.0), true, false);
        }
        assert_eq!(b.state, BreakerState::Open);
        assert_eq!(b.allow(ms(50.0)), None, "open: fail fast");
        assert_eq!(b.allow(ms(101.0)), Some(true), "half-open: first probe");
        assert_eq!(b.allow(ms(101.0)), Some(true), "second probe");
        assert_eq!(b.allow(ms(101.0)), None, "no third probe");
        b.record(ms(102.0), false, true);
        assert_eq!(b.state, BreakerState::HalfOpen);
        b.record(ms(103.0), false, true);
        assert_eq!(b.state, BreakerState::Closed);
        assert!((b.open.mean(ms(203.0)) - 102.0 / 203.0).abs() < 1e-9);
    }

    #[test]
    fn breaker_opens_on_failure_rate_after_min_calls() {
        let mut b = Breaker::new(
            BreakerPolicy {
                consecutive_failures: None,
                failure_rate: Some(0.5),
                window: 10,
                min_calls: 6,
                open: ms(10.0),
                probe_calls: 1,
            },
            SimTime::ZERO,
        );
        // Alternating outcomes: 50% failures, but not before 6 calls.
        for k in 0..5 {
            b.record(SimTime::ZERO, k % 2 == 0, false);
            assert_eq!(b.state, BreakerState::Closed, "after {} calls", k + 1);
        }
        b.record(SimTime::ZERO, true, false);
        assert_eq!(b.state, BreakerState::Open);
        // A failed probe opens it again.
        assert_eq!(b.allow(ms(10.0)), Some(true));
        b.record(ms(11.0), true, true);
        assert_eq!(b.state, BreakerState::Open);
        assert_eq!(b.allow(ms(20.0)), None);
    }

    #[test]
    fn budget_allows_ratio_of_first_attempts_per_second() {
        let mut w = BudgetWindow::new(RetryBudget {
            ratio: 0.2,
            min_per_s: 0.0,
        });
        for _ in 0..100 {
            w.record_first(ms(10.0));
        }
        let granted = (0..100).filter(|_| w.try_retry(ms(20.0))).count();
        assert_eq!(granted, 20);
        // A second later the window has forgotten both.
        assert!(!w.try_retry(ms(1500.0)));
        w.record_first(ms(1500.0));
        w.record_first(ms(1500.0));
        w.record_first(ms(1500.0));
        w.record_first(ms(1500.0));
        w.record_first(ms(1500.0));
        assert!(w.try_retry(ms(1500.0)));
        assert!(!w.try_retry(ms(1500.0)));
    }

    #[test]
    fn backoff_doubles_up_to_max_and_jitter_stays_within_it() {
        let retry = RetryPolicy {
            max_attempts: 10,
            backoff: Backoff::Exponential,
            base: ms(10.0),
            max: ms(50.0),
            jitter: Jitter::None,
            budget: None,
            on_error: true,
            on_timeout: true,
        };
        let mut rng = crate::engine::seeded_rng(1);
        let delays: Vec<SimTime> = (1..=5).map(|a| backoff(&retry, a, &mut rng)).collect();
        assert_eq!(delays, [ms(10.0), ms(20.0), ms(40.0), ms(50.0), ms(50.0)]);
        let full = RetryPolicy {
            jitter: Jitter::Full,
            ..retry.clone()
        };
        let equal = RetryPolicy {
            jitter: Jitter::Equal,
            ..retry
        };
        for _ in 0..1000 {
            assert!(backoff(&full, 2, &mut rng) <= ms(20.0));
            let e = backoff(&equal, 2, &mut rng);
            assert!(e >= ms(10.0) && e <= ms(20.0));
        }
    }
}
