//! A minimal hand-written simulation of the built-in model — a `BinaryHeap` of events and nothing
//! else: no links' queues, no histograms, no statistics beyond a latency sum — kept beside the
//! real engine so the ratio between them can be re-measured in one `cargo bench` run.
//!
//! Model: Poisson arrivals at 400/s; gateway 1 worker, exponential 1 ms; half the requests to
//! `user`, half to `order`, each 1 instance × 2 workers, exponential 3 ms; 0.5 ms each way
//! (plus 4.1 µs and 16.4 µs of serialisation at 1 Gbit/s, as constants).

use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Exp};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Arrival,
    GatewayDone,
    ServiceArrive,
    ServiceDone,
    Back,
}

/// (time, sequence, kind, request id, service).
type Scheduled = (u64, u64, Kind, u32, u8);

/// Simulates `duration_s` seconds; returns (requests completed, events, mean latency in ms).
pub fn run(duration_s: f64, seed: u64) -> (u64, u64, f64) {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let inter = Exp::new(400.0 / 1e9).unwrap();
    let gw = Exp::new(1.0 / 1e6).unwrap();
    let svc = Exp::new(1.0 / 3e6).unwrap();
    let end = (duration_s * 1e9) as u64;
    let mut heap: BinaryHeap<Reverse<Scheduled>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<_>, t: u64, k: Kind, r: u32, s: u8| {
        seq += 1;
        heap.push(Reverse((t, seq, k, r, s)));
    };
    let mut start: Vec<u64> = Vec::new();
    let mut free_ids: Vec<u32> = Vec::new();
    let (mut gw_busy, mut gw_queue) = (false, VecDeque::new());
    let mut busy = [0u32; 2];
    let mut queues = [VecDeque::new(), VecDeque::new()];
    let (mut done, mut events, mut sum) = (0u64, 0u64, 0u128);
    push(
        &mut heap,
        inter.sample(&mut rng) as u64,
        Kind::Arrival,
        0,
        0,
    );
    while let Some(Reverse((t, _, kind, r, s))) = heap.pop() {
        if t >= end {
            break;
        }
        events += 1;
        match kind {
            Kind::Arrival => {
                let id = free_ids.pop().unwrap_or_else(|| {
                    start.push(0);
                    (start.len() - 1) as u32
                });
                start[id as usize] = t;
                if gw_busy {
                    gw_queue.push_back(id);
                } else {
                    gw_busy = true;
                    push(
                        &mut heap,
                        t + gw.sample(&mut rng) as u64,
                        Kind::GatewayDone,
                        id,
                        0,
                    );
                }
                push(
                    &mut heap,
                    t + inter.sample(&mut rng) as u64,
                    Kind::Arrival,
                    0,
                    0,
                );
            }
            Kind::GatewayDone => {
                let to = u8::from(rng.random::<bool>());
                push(&mut heap, t + 500_000 + 4_096, Kind::ServiceArrive, r, to);
                match gw_queue.pop_front() {
                    Some(next) => push(
                        &mut heap,
                        t + gw.sample(&mut rng) as u64,
                        Kind::GatewayDone,
                        next,
                        0,
                    ),
                    None => gw_busy = false,
                }
            }
            Kind::ServiceArrive => {
                let i = s as usize;
                if busy[i] < 2 {
                    busy[i] += 1;
                    push(
                        &mut heap,
                        t + svc.sample(&mut rng) as u64,
                        Kind::ServiceDone,
                        r,
                        s,
                    );
                } else {
                    queues[i].push_back(r);
                }
            }
            Kind::ServiceDone => {
                let i = s as usize;
                push(&mut heap, t + 500_000 + 16_384, Kind::Back, r, s);
                match queues[i].pop_front() {
                    Some(next) => push(
                        &mut heap,
                        t + svc.sample(&mut rng) as u64,
                        Kind::ServiceDone,
                        next,
                        s,
                    ),
                    None => busy[i] -= 1,
                }
            }
            Kind::Back => {
                done += 1;
                sum += u128::from(t - start[r as usize]);
                free_ids.push(r);
            }
        }
    }
    (done, events, sum as f64 / done.max(1) as f64 / 1e6)
}
