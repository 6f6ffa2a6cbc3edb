//! Replicated stores: quorum write latency as order statistics of the replicas' delays, and the
//! stale reads of asynchronous replication — each against its closed form.

mod common;

use common::{assert_agrees, ci, model_from, replicate};
use meshsim::sim::RunResult;

/// The gateway's route `front.flow` writes then reads the store `db` (N = 3 replicas);
/// `link_ms` is the latency of the front–db link; `store` completes the store table.
fn front_and_store(rate: f64, duration_s: f64, link_ms: f64, store: &str) -> String {
    format!(
        r#"
[simulation]
duration_s = {duration_s}
warmup_s = 1
seed = 1

[workload]
type = "open"
rate_per_s = {rate}

[[workload.mix]]
route = "front.flow"

[gateway]
workers = 1000

[services.front]
workers = 1000

[services.front.endpoints.flow]
service_ms = 0
calls = [["db.write"], ["db.read"]]

[services.db]
workers = 1000

[services.db.store]
replicas = 3
{store}

[services.db.endpoints.write]
service_ms = 0
op = "write"

[services.db.endpoints.read]
service_ms = 0
op = "read"

[links.front_db]
between = ["front", "db"]
latency_ms = {link_ms}
"#
    )
}

fn db(r: &RunResult) -> &meshsim::sim::StoreResult {
    r.services[2].store.as_ref().expect("db is a store")
}

/// Each replica applies a write after an independent exponential delay of mean m = 10 ms; a
/// synchronous write returns at the W-th of the three: the W-th order statistic of three
/// exponentials has mean m·(1/3), m·(1/3 + 1/2), m·(1/3 + 1/2 + 1).
#[test]
fn a_quorum_write_waits_for_the_w_th_fastest_replica() {
    for (w, expected) in [
        (1, 10.0 / 3.0),
        (2, 10.0 * (1.0 / 3.0 + 0.5)),
        (3, 10.0 * (1.0 / 3.0 + 0.5 + 1.0)),
    ] {
        let text = front_and_store(
            200.0,
            60.0,
            0.0,
            &format!("write_quorum = {w}\nreplica_ms = {{ dist = \"exponential\", mean_ms = 10 }}"),
        );
        let runs = replicate(&model_from(&text, &[]), 10);
        assert_agrees(
            &format!("mean write latency, W = {w} (ms)"),
            expected,
            ci(&runs, |r| db(r).write_latency.mean_ms()),
            0.03,
        );
        // R + W > N for R = 3? Here R = 1: with W = 3 every replica has the write when it is
        // acknowledged, so no read can be stale.
        if w == 3 {
            assert!(runs.iter().all(|r| db(r).stale_reads == 0));
        }
    }
}

/// Asynchronous replication: the primary applies at once and acknowledges; each other replica
/// applies after an exponential lag of mean m = 10 ms. The read of the same key comes d = 10 ms
/// after the acknowledgement (the answer and the read each cross the 5 ms link) from one of
/// the N = 3 copies drawn uniformly: P(stale) = ((N − 1)/N)·e^(−d/m) = (2/3)·e^(−1) = 0.2453.
/// One key, a request every 5 s on average: another request's write falls in a read's 10 ms
/// window once in 500 requests (at one a second, once in a hundred: that biased the share up
/// by about 1%).
#[test]
fn an_async_replica_is_stale_with_the_lags_tail_probability() {
    let text = front_and_store(
        0.2,
        5001.0,
        5.0,
        "replication = \"async\"\nreplication_lag_ms = { dist = \"exponential\", mean_ms = 10 }\nkeys = 1",
    );
    let runs = replicate(&model_from(&text, &[]), 10);
    let expected = 2.0 / 3.0 * (-1.0f64).exp();
    assert_agrees(
        "share of stale reads",
        expected,
        ci(&runs, |r| db(r).stale_reads as f64 / db(r).reads as f64),
        0.05,
    );
}

/// A read quorum that overlaps every write quorum (R + W > N) never reads stale data; one
/// that does not, under synchronous replication with slow replicas, sometimes does.
#[test]
fn overlapping_quorums_never_read_stale() {
    let stale = |w: u32, r: u32| {
        let text = front_and_store(
            200.0,
            30.0,
            0.0,
            &format!(
                "write_quorum = {w}\nread_quorum = {r}\nkeys = 1\n\
                 replica_ms = {{ dist = \"exponential\", mean_ms = 10 }}"
            ),
        );
        let runs = replicate(&model_from(&text, &[]), 3);
        runs.iter().map(|x| db(x).stale_reads).sum::<u64>()
    };
    assert_eq!(stale(2, 2), 0);
    assert_eq!(stale(3, 1), 0);
    assert!(stale(1, 1) > 100);
}

/// The replicas' wait is part of the request's critical path: the latency breakdown of each
/// route adds up to its mean latency (the store's read or write included).
#[test]
fn the_breakdown_counts_the_wait_for_the_replicas() {
    use meshsim::sim::{Options, simulate_with};
    let text = front_and_store(
        100.0,
        30.0,
        1.0,
        "write_quorum = 2\nreplica_ms = { dist = \"exponential\", mean_ms = 10 }",
    );
    let r = simulate_with(
        &model_from(&text, &[]),
        &Options {
            breakdown: true,
            ..Options::default()
        },
    );
    let route = &r.breakdown[0];
    let total: f64 = route.parts.iter().map(|p| p.2).sum();
    let mean = r.routes[0].latency.mean_ms();
    // Write (8.33 ms) and read (10 ms, one replica) at the store, and four 1 ms link crossings.
    assert!(mean > 20.0, "{mean}");
    assert!(
        (total - mean).abs() < 1e-6 * mean,
        "breakdown {total} vs mean {mean}"
    );
}
