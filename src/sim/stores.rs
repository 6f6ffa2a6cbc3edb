//! Replicated stores at run time: which replica has applied which write of each key, quorum
//! waits, and the reads that come back stale.

use super::Simulator;
use crate::engine::{SimRng, SimTime};
use crate::model::{KeyScope, Keys, Replication, ServiceId, Store, StoreOp};
use crate::stats::{LatencyRecorder, LatencyStats};
use rand::RngExt;
use rand_distr::{Distribution, Zipf};

/// One write of a key: its version (the key's writes numbered from 1), when it was
/// acknowledged and when each replica applies it.
#[derive(Clone, Default)]
struct Write {
    version: u64,
    acked: SimTime,
    applied: Vec<SimTime>,
}

/// The last two writes of a key: a read compares with the newest acknowledged one (the newest
/// may still be in flight). And the newest version a read of it has returned.
#[derive(Clone, Default)]
struct KeyState {
    latest: Option<Write>,
    previous: Option<Write>,
    last_read: u64,
}

/// A store's state and what it measured.
pub struct StoreState {
    keys: Vec<KeyState>,
    zipf: Option<Zipf<f64>>,
    scratch: Vec<u32>,
    delays: Vec<SimTime>,
    pub reads: u64,
    pub writes: u64,
    pub stale_reads: u64,
    /// Reads that returned an older version than an earlier read of their key.
    pub backwards_reads: u64,
    read_latency: LatencyRecorder,
    write_latency: LatencyRecorder,
}

/// Violations of the session guarantees of a store keyed by client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionViolations {
    pub read_your_writes: u64,
    pub monotonic_reads: u64,
}

/// What a store did over the measured window: the `services.csv` columns of a store.
#[derive(Clone, Debug)]
pub struct StoreResult {
    pub reads: u64,
    pub writes: u64,
    /// Reads none of whose replicas had applied the newest acknowledged write of their key.
    pub stale_reads: u64,
    /// With keys per client (`key_per = "client"`, else `None`): reads that missed the client's
    /// own acknowledged write (read-your-writes violations: its stale reads), and reads older
    /// than the client's previous read (monotonic-read violations).
    pub sessions: Option<SessionViolations>,
    /// From admission at the store to the quorum's answer.
    pub read_latency: LatencyStats,
    pub write_latency: LatencyStats,
}

impl StoreState {
    pub fn new(store: &Store) -> StoreState {
        StoreState {
            keys: vec![KeyState::default(); store.keys as usize],
            zipf: match store.key_distribution {
                Keys::Uniform => None,
                Keys::Zipf { exponent } => Some(
                    Zipf::new(f64::from(store.keys), exponent).expect("validated exponent > 0"),
                ),
            },
            scratch: Vec::new(),
            delays: Vec::new(),
            reads: 0,
            writes: 0,
            stale_reads: 0,
            backwards_reads: 0,
            read_latency: LatencyRecorder::new(),
            write_latency: LatencyRecorder::new(),
        }
    }

    pub fn result(&mut self, store: &Store) -> StoreResult {
        StoreResult {
            reads: self.reads,
            writes: self.writes,
            stale_reads: self.stale_reads,
            // Every write of a client's key is the client's own: a stale read missed its write.
            sessions: (store.key_per == KeyScope::Client).then_some(SessionViolations {
                read_your_writes: self.stale_reads,
                monotonic_reads: self.backwards_reads,
            }),
            read_latency: std::mem::take(&mut self.read_latency).into_stats(),
            write_latency: std::mem::take(&mut self.write_latency).into_stats(),
        }
    }

    /// The key an operation of `client` touches.
    fn key(&self, store: &Store, client: u32, rng: &mut SimRng) -> usize {
        if store.key_per == KeyScope::Client {
            return (client % store.keys) as usize;
        }
        match &self.zipf {
            None => rng.random_range(0..store.keys as usize),
            Some(z) => (z.sample(rng) as usize).clamp(1, store.keys as usize) - 1,
        }
    }

    /// A write of a random key at `now`: every replica's apply time; returns the wait for its
    /// acknowledgement.
    fn write(&mut self, store: &Store, now: SimTime, client: u32, rng: &mut SimRng) -> SimTime {
        let k = self.key(store, client, rng);
        let n = store.replicas as usize;
        let mut applied = Vec::with_capacity(n);
        // A replica's one-way latency: the write reaches it that much later, and its
        // acknowledgement takes as long to come back.
        let wait = match store.replication {
            Replication::Sync => {
                self.delays.clear();
                for j in 0..n {
                    let d = store.replica_time.sample(rng);
                    applied.push(now + store.away(j) + d);
                    self.delays.push(store.away(j) + d + store.away(j));
                }
                let w = store.write_quorum as usize - 1;
                *self.delays.select_nth_unstable(w).1
            }
            Replication::Async => {
                let primary = store.replica_time.sample(rng);
                applied.push(now + store.away(0) + primary);
                for j in 1..n {
                    applied.push(now + store.away(j) + primary + store.lag.sample(rng));
                }
                store.away(0) + primary + store.away(0)
            }
        };
        let state = &mut self.keys[k];
        let version = state.latest.as_ref().map_or(1, |w| w.version + 1);
        state.previous = state.latest.take();
        state.latest = Some(Write {
            version,
            acked: now + wait,
            applied,
        });
        wait
    }

    /// A read of a key at `now` from `read_quorum` distinct replicas drawn uniformly; returns
    /// the wait for the slowest of them, whether the read is stale, and whether it went
    /// backwards (an older version than an earlier read of the key returned).
    fn read(
        &mut self,
        store: &Store,
        now: SimTime,
        client: u32,
        rng: &mut SimRng,
    ) -> (SimTime, bool, bool) {
        let k = self.key(store, client, rng);
        let n = store.replicas as usize;
        self.scratch.clear();
        self.scratch.extend(0..n as u32);
        let r = store.read_quorum as usize;
        let mut wait = SimTime::ZERO;
        for i in 0..r {
            let j = rng.random_range(i..n);
            self.scratch.swap(i, j);
            let there = store.away(self.scratch[i] as usize);
            wait = wait.max(there + store.replica_time.sample(rng) + there);
        }
        let asked = &self.scratch[..r];
        let state = &mut self.keys[k];
        // The newest acknowledged write; a replica that has applied a newer one is fresh too.
        let newest = [state.latest.as_ref(), state.previous.as_ref()]
            .into_iter()
            .flatten()
            .position(|w| w.acked <= now);
        let stale = match newest {
            None => false,
            // A replica is asked when the read reaches it.
            Some(v) => !asked.iter().any(|&j| {
                [state.latest.as_ref(), state.previous.as_ref()]
                    .into_iter()
                    .flatten()
                    .take(v + 1)
                    .any(|w| w.applied[j as usize] <= now + store.away(j as usize))
            }),
        };
        // The version returned: the freshest any asked replica has applied; one that has
        // applied neither kept write holds an older one (taken as the one before them).
        let kept = [state.latest.as_ref(), state.previous.as_ref()];
        let version = kept
            .iter()
            .flatten()
            .find(|w| {
                asked
                    .iter()
                    .any(|&j| w.applied[j as usize] <= now + store.away(j as usize))
            })
            .map_or_else(
                || kept.iter().flatten().last().map_or(0, |w| w.version - 1),
                |w| w.version,
            );
        let backwards = version < state.last_read;
        state.last_read = state.last_read.max(version);
        (wait, stale, backwards)
    }
}

impl<const FULL: bool, const PATHS: bool> Simulator<'_, FULL, PATHS> {
    /// A read or write of the store `service`, whose processing of a call admitted at
    /// `admitted` ended at `now`, reaches its replicas; returns the wait for their quorum.
    #[inline(never)]
    pub(super) fn store_op(
        &mut self,
        now: SimTime,
        service: ServiceId,
        op: StoreOp,
        admitted: SimTime,
        client: u32,
    ) -> SimTime {
        let store = self.model.services[service]
            .store
            .as_ref()
            .expect("a store op belongs to a store");
        let measured = admitted >= self.warmup && self.measured(now);
        let state = self.stores[service]
            .as_mut()
            .expect("a store has its state");
        match op {
            StoreOp::Write => {
                let wait = state.write(store, now, client, &mut self.rng);
                if measured {
                    state.writes += 1;
                    state.write_latency.record((now + wait - admitted).0);
                }
                wait
            }
            StoreOp::Read => {
                let (wait, stale, backwards) = state.read(store, now, client, &mut self.rng);
                if measured {
                    state.reads += 1;
                    state.stale_reads += u64::from(stale);
                    state.backwards_reads += u64::from(backwards);
                    state.read_latency.record((now + wait - admitted).0);
                }
                wait
            }
        }
    }
}
