//! What this machine's memory costs a simulator of a large model: the time of one load as the
//! records read at random outgrow the caches (a pointer chase: each load's address is the value
//! the previous one read, as a call's record names its station and the station its instance),
//! and how many random loads per second the memory serves when several are in flight at once
//! (independent chases, as prefetching makes them). `cargo bench --bench machine` prints both;
//! docs/performance.md reads #26's speed goal against them.

use std::hint::black_box;
use std::time::Instant;

/// Bytes in a cache line: one load per line, as a record read at random costs.
const LINE: usize = 64;
const WORDS_PER_LINE: usize = LINE / 8;

/// A random cycle through `lines` cache lines: each line's first word holds the index (in
/// words) of the next line to visit.
fn cycle(lines: usize, seed: u64) -> Vec<u64> {
    let mut order: Vec<usize> = (0..lines).collect();
    let mut s = seed | 1;
    for i in (1..lines).rev() {
        // xorshift: the order needs no statistical quality, only to defeat the prefetchers.
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        order.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let mut words = vec![0u64; lines * WORDS_PER_LINE];
    for k in 0..lines {
        words[order[k] * WORDS_PER_LINE] = (order[(k + 1) % lines] * WORDS_PER_LINE) as u64;
    }
    words
}

/// Nanoseconds per load of `chains` independent chases through `words`, each `loads` long.
fn chase(words: &[u64], chains: usize, loads: usize) -> f64 {
    let lines = words.len() / WORDS_PER_LINE;
    let mut at: Vec<usize> = (0..chains)
        .map(|c| (c * lines / chains) * WORDS_PER_LINE)
        .collect();
    // Once around to bring what fits into the caches.
    for _ in 0..lines.min(loads) {
        at[0] = words[at[0]] as usize;
    }
    let started = Instant::now();
    for _ in 0..loads / chains {
        for p in at.iter_mut() {
            *p = words[*p] as usize;
        }
    }
    let ns = started.elapsed().as_nanos() as f64;
    black_box(&at);
    ns / (loads / chains * chains) as f64
}

fn main() {
    println!("one load at a time, records read at random over:");
    for mb in [1usize, 2, 3, 4, 6, 8, 16, 32, 64] {
        let words = cycle(mb * (1 << 20) / LINE, 0x9e37_79b9_7f4a_7c15);
        println!(
            "  {mb:>3} MB: {:6.1} ns a load",
            chase(&words, 1, 10_000_000)
        );
    }
    println!("several loads in flight, over 64 MB:");
    let words = cycle(64 * (1 << 20) / LINE, 0x2545_f491_4f6c_dd1d);
    for chains in [1usize, 2, 4, 8, 16, 24, 32] {
        println!(
            "  {chains:>2} at once: {:6.1} ns a line",
            chase(&words, chains, 20_000_000)
        );
    }
}
