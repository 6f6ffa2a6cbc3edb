//! Service instances: workers, FIFO queues, load balancing, and their time-weighted statistics.

use crate::engine::{Handle, SimRng, SimTime};
use crate::model::{LoadBalancer, Service};
use crate::stats::TimeWeighted;
use rand::RngExt;
use std::collections::VecDeque;

/// One replica of a service.
#[derive(Default)]
pub struct Instance {
    /// Workers currently held.
    pub busy: u32,
    /// Calls waiting for a worker, oldest first.
    pub queue: VecDeque<Handle>,
    /// Calls admitted and not yet responded to (queued, in service, or waiting downstream).
    pub outstanding: u32,
}

/// The run-time state of a service (or the gateway).
pub struct Station {
    pub instances: Vec<Instance>,
    pub workers: u32,
    pub queue_capacity: Option<u32>,
    pub blocking: bool,
    balancer: LoadBalancer,
    next: usize,
    /// Workers held, summed over instances.
    pub busy: TimeWeighted,
    /// Calls waiting, summed over instances.
    pub queued: TimeWeighted,
    /// Calls refused by a full queue in the measured window.
    pub rejected: u64,
    /// Calls that arrived in the measured window.
    pub arrivals: u64,
    /// Calls admitted in the measured window that got a worker: their count and total wait.
    pub waits: u64,
    pub waited_ns: u128,
    /// Calls admitted in the measured window that released their worker: their count and total
    /// residence (wait plus time holding a worker).
    pub residences: u64,
    pub resided_ns: u128,
}

impl Station {
    /// The station of `service`; statistics start at `warmup`.
    pub fn new(service: &Service, warmup: SimTime) -> Station {
        Station {
            instances: (0..service.instances)
                .map(|_| Instance::default())
                .collect(),
            workers: service.workers,
            queue_capacity: service.queue_capacity,
            blocking: service.blocking,
            balancer: service.load_balancer,
            next: 0,
            busy: TimeWeighted::new(warmup),
            queued: TimeWeighted::new(warmup),
            rejected: 0,
            arrivals: 0,
            waits: 0,
            waited_ns: 0,
            residences: 0,
            resided_ns: 0,
        }
    }

    /// Records that a call admitted at `admitted` got a worker at `now`.
    #[inline]
    pub fn record_wait(&mut self, admitted: SimTime, now: SimTime, warmup: SimTime) {
        if admitted >= warmup {
            self.waits += 1;
            self.waited_ns += u128::from((now - admitted).0);
        }
    }

    /// Records that a call admitted at `admitted` released its worker at `now`.
    #[inline]
    pub fn record_residence(&mut self, admitted: SimTime, now: SimTime, warmup: SimTime) {
        if admitted >= warmup {
            self.residences += 1;
            self.resided_ns += u128::from((now - admitted).0);
        }
    }

    /// Chooses the instance for a new call.
    #[inline]
    pub fn pick_instance(&mut self, rng: &mut SimRng) -> usize {
        let n = self.instances.len();
        if n == 1 {
            return 0;
        }
        match self.balancer {
            LoadBalancer::RoundRobin => {
                let i = self.next;
                self.next = (i + 1) % n;
                i
            }
            LoadBalancer::Random => rng.random_range(0..n),
            LoadBalancer::LeastOutstanding => {
                // Scan from a rotating start so ties spread evenly instead of favouring instance 0.
                let start = self.next;
                self.next = (start + 1) % n;
                (0..n)
                    .map(|k| (start + k) % n)
                    .min_by_key(|&i| self.instances[i].outstanding)
                    .unwrap_or(0)
            }
            LoadBalancer::PowerOfTwo => {
                let a = rng.random_range(0..n);
                let b = (a + 1 + rng.random_range(0..n - 1)) % n;
                if self.instances[b].outstanding < self.instances[a].outstanding {
                    b
                } else {
                    a
                }
            }
        }
    }
}
