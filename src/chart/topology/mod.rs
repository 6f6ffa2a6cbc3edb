//! The system as a picture: clients, gateway and services (instances × workers) as boxes
//! coloured by utilisation, the calls between them as arrows labelled with calls/s and the
//! share that failed. Written as Graphviz DOT (for users' own tools) and drawn in-process as SVG
//! and PNG with a layered layout of our own (no system Graphviz).
//!
//! The picture is built in two steps, like the charts: a [`Topology`] (plain data, from a model
//! and either the theory's offered load or a run's CSV files), then [`layout`] and [`draw`].

mod dot;
mod draw;
pub mod layout;

pub use dot::to_dot;
pub use draw::{render_png, render_svg};

use crate::analysis;
use crate::model::{Model, Workload};
use crate::output::{OutputError, write_atomic};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Graphs with more boxes than this are written as DOT only: a picture of thousands of services
/// is unreadable at any size, and Graphviz users have their own tools for those.
pub const MAX_DRAWN_NODES: usize = 300;

/// What a box stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    Clients,
    Gateway,
    Service,
}

/// A box of the picture.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    /// The second line: instances × workers, or the workload for the clients.
    pub detail: String,
    /// Busy share of the workers (may exceed 1 when offered load is beyond capacity); none for
    /// the clients.
    pub utilisation: Option<f64>,
    /// The busiest service (or gateway), marked in the picture.
    pub bottleneck: bool,
}

/// An arrow: every call from one node to another, over all endpoints.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// Calls per second (attempts excluded).
    pub calls_per_s: f64,
    /// Share of the calls that failed, when known (from a run).
    pub error_share: Option<f64>,
    /// The stages (from 1) of the caller's endpoints the calls are made in, when the caller has
    /// more than one stage; empty otherwise.
    pub stages: Vec<usize>,
    /// The network link the calls cross, if any (else they are in-process).
    pub link: Option<String>,
    /// Some call on it is fire-and-forget (`async = true`).
    pub fire_and_forget: bool,
}

/// The whole picture's data.
#[derive(Clone, Debug)]
pub struct Topology {
    pub title: String,
    /// Where the numbers come from.
    pub subtitle: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Topology {
    /// The model coloured by what queueing theory says it offers each service (no simulation).
    pub fn from_analysis(model: &Model) -> Topology {
        let load = analysis::offered_load(model);
        let utilisation: Vec<f64> = load.stations.iter().map(|s| s.utilisation).collect();
        let mut t = Topology::skeleton(model, &utilisation, load.throughput_per_s);
        t.subtitle = format!(
            "offered load from analysis at {} req/s{}: colour = utilisation (offered work ÷ workers), arrows = calls/s",
            crate::report::number(crate::report::significant3(load.throughput_per_s)),
            if load.throughput_is_bound {
                " (closed workload: the throughput bound)"
            } else {
                ""
            }
        );
        t
    }

    /// The model coloured by a run's results (`services.csv`, `edges.csv` in `dir`).
    pub fn from_run(model: &Model, dir: &Path) -> Result<Topology, String> {
        let services = super::Table::read(&dir.join("services.csv"))?;
        let (name, util) = (services.col("service")?, services.col("utilisation")?);
        let by_name: HashMap<&str, usize> = (0..services.rows.len())
            .map(|r| (services.rows[r][name].as_str(), r))
            .collect();
        let utilisation: Vec<f64> = model
            .services
            .iter()
            .map(|s| {
                by_name
                    .get(s.name.as_str())
                    .map_or(0.0, |&r| services.num(r, util))
            })
            .collect();
        let measured_s = model.measured().as_secs_f64().max(1e-9);
        let throughput = super::Table::read(&dir.join("summary.csv"))
            .ok()
            .and_then(|t| {
                let (route, rps) = (t.col("route").ok()?, t.col("throughput_rps").ok()?);
                (0..t.rows.len())
                    .find(|&r| t.rows[r][route] == "all")
                    .or((t.rows.len() == 1).then_some(0))
                    .map(|r| t.num(r, rps))
            })
            .unwrap_or(0.0);
        let mut t = Topology::skeleton(model, &utilisation, throughput);
        let edges = super::Table::read(&dir.join("edges.csv"))?;
        let (from, to, calls, failed) = (
            edges.col("from")?,
            edges.col("to")?,
            edges.col("calls")?,
            edges.col("failed_calls")?,
        );
        // The clients' arrow keeps the measured throughput; the rest come from edges.csv.
        let by_pair: HashMap<(&str, &str), usize> = (0..edges.rows.len())
            .map(|r| {
                (
                    (edges.rows[r][from].as_str(), edges.rows[r][to].as_str()),
                    r,
                )
            })
            .collect();
        for e in t.edges.iter_mut().filter(|e| e.from != 0) {
            let pair = (t.nodes[e.from].name.as_str(), t.nodes[e.to].name.as_str());
            match by_pair.get(&pair) {
                Some(&r) => {
                    let n = edges.num(r, calls);
                    e.calls_per_s = n / measured_s;
                    e.error_share = Some(if n > 0.0 {
                        edges.num(r, failed) / n
                    } else {
                        0.0
                    });
                }
                None => {
                    e.calls_per_s = 0.0;
                    e.error_share = None;
                }
            }
        }
        t.subtitle = format!(
            "simulated: colour = utilisation of the workers, arrows = calls/s (and the share that failed) over the {} s measured",
            crate::report::number(crate::report::significant3(measured_s))
        );
        Ok(t)
    }

    /// Nodes and edges of `model`, with the given utilisation per service (gateway first) and
    /// edge rates from the theory's visit counts at `throughput` requests per second.
    fn skeleton(model: &Model, utilisation: &[f64], throughput: f64) -> Topology {
        let mut nodes = vec![Node {
            name: "clients".into(),
            kind: NodeKind::Clients,
            detail: match &model.workload {
                Workload::Open {
                    rate_per_s,
                    pattern,
                } => format!(
                    "open, {} req/s{}",
                    crate::report::number(crate::report::significant3(*rate_per_s)),
                    if pattern.is_some() { " (varying)" } else { "" }
                ),
                Workload::Closed { users, .. } => format!("closed, {users} users"),
            },
            utilisation: None,
            bottleneck: false,
        }];
        for (i, s) in model.services.iter().enumerate() {
            nodes.push(Node {
                name: s.name.clone(),
                kind: if i == 0 {
                    NodeKind::Gateway
                } else {
                    NodeKind::Service
                },
                detail: format!(
                    "{} × {} worker{}",
                    s.instances,
                    s.workers,
                    if s.workers == 1 { "" } else { "s" }
                ),
                utilisation: Some(utilisation.get(i).copied().unwrap_or(0.0)),
                bottleneck: false,
            });
        }
        let busiest = (1..nodes.len())
            .filter(|&i| nodes[i].utilisation.unwrap_or(0.0) > 0.0)
            .max_by(|&a, &b| {
                nodes[a]
                    .utilisation
                    .unwrap_or(0.0)
                    .total_cmp(&nodes[b].utilisation.unwrap_or(0.0))
            });
        if let Some(b) = busiest {
            nodes[b].bottleneck = true;
        }
        let visits = analysis::visits_per_request(model);
        let mut edges: Vec<Edge> = vec![Edge {
            from: 0,
            to: 1,
            calls_per_s: throughput,
            error_share: None,
            stages: Vec::new(),
            link: None,
            fire_and_forget: false,
        }];
        let mut index: HashMap<(usize, usize), usize> = HashMap::new();
        let link_of: HashMap<(usize, usize), &str> = model
            .links
            .iter()
            .flat_map(|l| {
                let [a, b] = l.ends;
                [((a, b), l.name.as_str()), ((b, a), l.name.as_str())]
            })
            .collect();
        for (id, e) in model.endpoints.iter().enumerate() {
            let several_stages = e.stages.len() > 1;
            for (stage, calls) in e.stages.iter().enumerate() {
                for d in calls {
                    let callee = model.endpoints[d.target].service;
                    let (from, to) = (e.service + 1, callee + 1);
                    let i = *index.entry((from, to)).or_insert_with(|| {
                        edges.push(Edge {
                            from,
                            to,
                            calls_per_s: 0.0,
                            error_share: None,
                            stages: Vec::new(),
                            link: link_of.get(&(e.service, callee)).map(|l| l.to_string()),
                            fire_and_forget: false,
                        });
                        edges.len() - 1
                    });
                    edges[i].calls_per_s += throughput * visits[id] * d.mean_calls();
                    edges[i].fire_and_forget |= !d.is_awaited();
                    if several_stages && !edges[i].stages.contains(&(stage + 1)) {
                        edges[i].stages.push(stage + 1);
                        edges[i].stages.sort_unstable();
                    }
                }
            }
        }
        Topology {
            title: format!("{}: topology", model.name),
            subtitle: String::new(),
            nodes,
            edges,
        }
    }
}

/// Calls per second for a label: three significant figures, no exponent.
pub fn rate_label(per_s: f64) -> String {
    format!(
        "{}/s",
        crate::report::number(crate::report::significant3(per_s))
    )
}

/// Writes `DIR/topology.dot`, and `topology.svg` and `topology.png` unless the graph is too
/// large to read ([`MAX_DRAWN_NODES`]); returns the paths written.
pub fn write(dir: &Path, topology: &Topology) -> Result<Vec<PathBuf>, OutputError> {
    super::register_font();
    std::fs::create_dir_all(dir).map_err(|source| OutputError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let dot = dir.join("topology.dot");
    write_atomic(&dot, to_dot(topology).as_bytes())?;
    let mut written = vec![dot];
    if topology.nodes.len() > MAX_DRAWN_NODES {
        return Ok(written);
    }
    let placed = layout::layout(topology);
    let draw_err = |path: &Path, e: String| OutputError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    let svg = dir.join("topology.svg");
    let text = render_svg(topology, &placed).map_err(|e| draw_err(&svg, e))?;
    write_atomic(&svg, text.as_bytes())?;
    let png = dir.join("topology.png");
    let bytes = render_png(topology, &placed).map_err(|e| draw_err(&png, e))?;
    write_atomic(&png, &bytes)?;
    written.extend([svg, png]);
    Ok(written)
}
