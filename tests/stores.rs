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

/// Keys per client (`key_per = "client"`): each request of the open workload comes from one
/// of many clients and works on its client's own key, so the read after its write is a session:
/// a stale read there is a read-your-writes violation, with the probability of
/// `an_async_replica_is_stale_with_the_lags_tail_probability`, (2/3)·e^(−1). Keyed by
/// operation instead, the read draws an unrelated key (of a million) and is almost never stale.
///
/// A second read 10 ms after the first goes backwards (monotonic-read violation) when the first
/// saw the write and the second asks a replica that has not: with lags of mean m at d₁ = 10
/// and d₂ = 20 ms after the acknowledgement, replicas drawn uniformly from the primary and two
/// others, P = (2/9)·e^(−d₂/m)·(2 − e^(−d₁/m)) = 0.0491 per request (the second read asks one
/// of the two others, 2/3, lagging past d₂; the first asked the primary, or the other replica,
/// which had applied by d₁ — not the same one, which would have applied by d₂ too).
#[test]
fn keys_per_client_count_read_your_writes_and_monotonic_read_violations() {
    let store = "replication = \"async\"\nreplication_lag_ms = { dist = \"exponential\", mean_ms = 10 }\nkeys = 1000000";
    let text = front_and_store(0.2, 5001.0, 5.0, &format!("{store}\nkey_per = \"client\""))
        .replace(
            "calls = [[\"db.write\"], [\"db.read\"]]",
            "calls = [[\"db.write\"], [\"db.read\"], [\"db.read\"]]",
        );
    let runs = replicate(&model_from(&text, &[]), 10);
    let sessions = |r: &RunResult| db(r).sessions.expect("keyed by client");
    let requests = |r: &RunResult| r.all.requests as f64;
    // The first read of each request is the session's read-your-writes check; the second
    // read misses the write with a smaller chance, (2/3)·e^(−2): count both.
    let expected_ryw = 2.0 / 3.0 * ((-1.0f64).exp() + (-2.0f64).exp());
    assert_agrees(
        "read-your-writes violations per request",
        expected_ryw,
        ci(&runs, |r| sessions(r).read_your_writes as f64 / requests(r)),
        0.06,
    );
    let expected_monotonic = 2.0 / 9.0 * (-2.0f64).exp() * (2.0 - (-1.0f64).exp());
    assert_agrees(
        "monotonic-read violations per request",
        expected_monotonic,
        ci(&runs, |r| sessions(r).monotonic_reads as f64 / requests(r)),
        0.15,
    );
    for r in &runs {
        assert_eq!(sessions(r).read_your_writes, db(r).stale_reads);
    }
    // The same store keyed by operation: no session, and reads of keys nobody wrote.
    let by_op = replicate(
        &model_from(&front_and_store(0.2, 1001.0, 5.0, store), &[]),
        2,
    );
    for r in &by_op {
        assert!(db(r).sessions.is_none());
        assert!(db(r).stale_reads <= 1, "{}", db(r).stale_reads);
    }
}

/// A sweep over the write quorum writes `stores.csv`: per point, the store's figures with
/// their intervals — W = 3 never reads stale and writes slowest. A model without a store
/// writes none.
#[test]
fn a_sweep_writes_each_points_store_figures() {
    let dir = tempfile::tempdir().unwrap();
    let text = front_and_store(
        200.0,
        20.0,
        0.0,
        "keys = 1\nreplica_ms = { dist = \"exponential\", mean_ms = 10 }",
    );
    std::fs::write(dir.path().join("db.toml"), text).unwrap();
    common::ok(&common::meshsim(
        &[
            "sweep",
            "db.toml",
            "--vary",
            "services.db.store.write_quorum=1,3",
            "--reps",
            "2",
            "-q",
            "--no-charts",
            "--out",
            "swept",
        ],
        dir.path(),
    ));
    let mut csv = csv::Reader::from_path(dir.path().join("swept/stores.csv")).unwrap();
    let header = csv.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let value = |r: &csv::StringRecord, name: &str| r[col(name)].parse::<f64>().unwrap();
    let (w1, w3) = (&rows[0], &rows[1]);
    assert_eq!(&w1[col("services.db.store.write_quorum")], "1");
    assert_eq!(&w1[col("store")], "db");
    assert!(value(w1, "stale_share") > 0.01, "{w1:?}");
    assert_eq!(value(w3, "stale_reads"), 0.0);
    assert!(value(w3, "write_mean_ms") > 4.0 * value(w1, "write_mean_ms"));
    assert!(value(w1, "write_mean_ms_ci95") > 0.0);
    assert!(value(w3, "write_p99_ms") > value(w3, "write_mean_ms"));

    let plain = front_and_store(200.0, 5.0, 0.0, "")
        .replace("\n[services.db.store]\nreplicas = 3\n", "\n")
        .replace("op = \"write\"", "")
        .replace("op = \"read\"", "");
    std::fs::write(dir.path().join("plain.toml"), plain).unwrap();
    common::ok(&common::meshsim(
        &[
            "sweep",
            "plain.toml",
            "--vary",
            "workload.rate_per_s=100",
            "-q",
            "--no-charts",
            "--out",
            "plain",
        ],
        dir.path(),
    ));
    assert!(dir.path().join("plain/points.csv").exists());
    assert!(!dir.path().join("plain/stores.csv").exists());
}

/// A replica in another region (`replica_latency_ms`): a request reaches it one way later and
/// its answer takes as long to return. Replicas 10 ms exponential, the third 50 ms away: a
/// write with W = 1 or 2 waits for the nearby two (the min and the max of two exponentials,
/// 5 and 15 ms), with W = 3 for the far one (100 + 10 = 110 ms; the nearby pair finishing
/// after it has probability ~10⁻⁴). A read from one replica drawn uniformly: 10 + 100/3 ms.
#[test]
fn a_distant_replica_delays_the_quorums_that_need_it() {
    for (w, write_ms) in [(1, 5.0), (2, 15.0), (3, 110.0)] {
        let text = front_and_store(
            200.0,
            60.0,
            0.0,
            &format!(
                "write_quorum = {w}\nreplica_ms = {{ dist = \"exponential\", mean_ms = 10 }}\n\
                 replica_latency_ms = [0, 0, 50]"
            ),
        );
        let runs = replicate(&model_from(&text, &[]), 8);
        assert_agrees(
            &format!("mean write latency, W = {w}, one replica 50 ms away (ms)"),
            write_ms,
            ci(&runs, |r| db(r).write_latency.mean_ms()),
            0.03,
        );
        if w == 1 {
            assert_agrees(
                "mean read latency, one replica of three 50 ms away (ms)",
                10.0 + 100.0 / 3.0,
                ci(&runs, |r| db(r).read_latency.mean_ms()),
                0.03,
            );
        }
    }
    let wrong = front_and_store(1.0, 10.0, 0.0, "replica_latency_ms = [0, 50]");
    let err = meshsim::model::load_str(&wrong, "m.toml", std::path::Path::new("."), &[])
        .expect_err("two latencies for three replicas")
        .to_string();
    assert!(err.contains("2 latencies for 3 replicas"), "{err}");
}
