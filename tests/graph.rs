//! `meshsim graph` and the topology every run draws: the picture must say what the model and
//! the run say — every service, every caller → callee pair, calls/s that add up, the busiest
//! service marked.

mod common;

use common::{meshsim, ok};
use meshsim::chart::topology::{MAX_DRAWN_NODES, Topology};
use std::path::Path;

fn checkout() -> meshsim::model::Model {
    meshsim::model::load_file(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/models/checkout.toml")),
        &[],
    )
    .unwrap()
}

#[test]
fn graph_draws_every_service_and_call_with_the_rates_theory_gives() {
    let dir = tempfile::tempdir().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/checkout.toml");
    let out = meshsim(&["graph", model, "--out", "g"], dir.path());
    ok(&out);
    let g = dir.path().join("g");
    for f in ["topology.dot", "topology.svg", "topology.png"] {
        assert!(g.join(f).is_file(), "{f} missing");
    }
    let dot = std::fs::read_to_string(g.join("topology.dot")).unwrap();
    for service in ["gateway", "api", "catalog", "user", "inventory", "payment"] {
        assert!(
            dot.contains(&format!("label=\"{service}\\n")),
            "{service} not drawn:\n{dot}"
        );
    }
    // 300 req/s; 70% browse (api → catalog), 30% checkout (user, then inventory and payment).
    let t = Topology::from_analysis(&checkout());
    let rate = |from: &str, to: &str| {
        t.edges
            .iter()
            .find(|e| t.nodes[e.from].name == from && t.nodes[e.to].name == to)
            .unwrap_or_else(|| panic!("no edge {from} → {to}"))
            .calls_per_s
    };
    assert!((rate("clients", "gateway") - 300.0).abs() < 1e-9);
    assert!((rate("gateway", "api") - 300.0).abs() < 1e-9);
    assert!((rate("api", "catalog") - 210.0).abs() < 1e-9);
    assert!((rate("api", "payment") - 90.0).abs() < 1e-9);
    assert_eq!(t.edges.len(), 6, "one arrow per caller → callee pair");
    // The stages of checkout's calls show: user first, then inventory and payment together.
    let stages = |to: &str| {
        t.edges
            .iter()
            .find(|e| t.nodes[e.to].name == to)
            .unwrap()
            .stages
            .clone()
    };
    assert_eq!((stages("user"), stages("payment")), (vec![1], vec![2]));
    // Exactly one bottleneck: the service with the highest utilisation.
    let marked: Vec<&str> = t
        .nodes
        .iter()
        .filter(|n| n.bottleneck)
        .map(|n| n.name.as_str())
        .collect();
    let busiest = t
        .nodes
        .iter()
        .filter(|n| n.utilisation.is_some())
        .max_by(|a, b| a.utilisation.unwrap().total_cmp(&b.utilisation.unwrap()))
        .unwrap();
    assert_eq!(marked, vec![busiest.name.as_str()]);
    assert!(
        dot.contains("penwidth=4"),
        "the bottleneck is marked in DOT too"
    );
}

#[test]
fn a_runs_topology_shows_the_simulated_rates_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/checkout.toml");
    ok(&meshsim(&["run", model, "--out", "r", "-q"], dir.path()));
    let r = dir.path().join("r");
    assert!(r.join("topology.svg").is_file() && r.join("topology.dot").is_file());
    let t = Topology::from_run(&checkout(), &r).unwrap();
    assert!(t.subtitle.starts_with("simulated"), "{}", t.subtitle);
    // Each arrow's rate is edges.csv's calls over the measured time (55 s).
    let edges = std::fs::read_to_string(r.join("edges.csv")).unwrap();
    for line in edges.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let calls: f64 = f[2].parse().unwrap();
        let e = t
            .edges
            .iter()
            .find(|e| t.nodes[e.from].name == f[0] && t.nodes[e.to].name == f[1])
            .unwrap();
        assert!((e.calls_per_s - calls / 55.0).abs() < 1e-9, "{line}");
        assert_eq!(e.error_share, Some(0.0));
    }
    let svg = std::fs::read_to_string(r.join("topology.svg")).unwrap();
    let report = std::fs::read_to_string(r.join("report.html")).unwrap();
    assert!(report.contains("<h2>Topology</h2>") && svg.contains("catalog"));
    // `plot` redraws it from the folder's model.toml.
    std::fs::remove_file(r.join("topology.svg")).unwrap();
    ok(&meshsim(&["plot", "r"], dir.path()));
    assert!(r.join("topology.svg").is_file());
}

#[test]
fn a_graph_too_large_to_read_is_written_as_dot_only() {
    let n = MAX_DRAWN_NODES;
    let mut text = String::from(
        "[simulation]\nduration_s = 1\n[workload]\ntype = \"open\"\nrate_per_s = 10\n[gateway]\n",
    );
    for i in 0..n {
        text.push_str(&format!("[[workload.mix]]\nroute = \"s{i}.get\"\n"));
    }
    for i in 0..n {
        text.push_str(&format!("[services.s{i}.endpoints.get]\nservice_ms = 1\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.toml"), text).unwrap();
    let out = meshsim(&["graph", "big.toml", "--out", "g"], dir.path());
    ok(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("too many to draw"));
    assert!(dir.path().join("g/topology.dot").is_file());
    assert!(!dir.path().join("g/topology.svg").exists());
}
