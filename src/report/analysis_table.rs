//! `meshsim analyze`: theory per route, station and link, optionally beside a simulation.

use super::table::{more_line, shown_rows_by};
use crate::analysis::{Analysis, Quality};
use crate::model::Model;
use crate::sim::RunResult;
use crate::stats::{MeanCi, mean_ci95};
use std::fmt::Write;

/// What one replication measured of the quantities the analysis predicts: all that is kept of
/// a run, not its whole result (a 10,000-service model's carries 110 MB of latency histograms,
/// and `--simulate` runs ten).
pub struct Observed {
    throughput_rps: f64,
    route_mean_ms: Vec<f64>,
    /// Per service: utilisation, mean queue length, mean wait in ms.
    services: Vec<[f64; 3]>,
    /// Per link direction: utilisation, mean delay in ms.
    links: Vec<[f64; 2]>,
    /// Per host: CPU utilisation, mean computing.
    hosts: Vec<[f64; 2]>,
}

impl Observed {
    /// What run `r` of `model` measured.
    pub fn of(model: &Model, r: &RunResult) -> Self {
        Observed {
            throughput_rps: r.all.throughput_rps(),
            route_mean_ms: r.routes.iter().map(|x| x.latency.mean_ms()).collect(),
            services: r
                .services
                .iter()
                .map(|x| [x.utilisation, x.mean_queue_length, x.mean_wait_ms])
                .collect(),
            links: (0..r.links.len())
                .map(|i| [r.links[i].utilisation, link_delay(model, r, i)])
                .collect(),
            hosts: r
                .hosts
                .iter()
                .map(|h| [h.cpu_utilisation, h.mean_computing])
                .collect(),
        }
    }
}

/// Mean delay of a message on link direction `i`: queueing + serialisation + propagation.
fn link_delay(model: &Model, r: &RunResult, i: usize) -> f64 {
    let l = &r.links[i];
    let link = &model.links[i / 2];
    let tx = link.bandwidth_bps.map_or(0.0, |bps| {
        if l.messages == 0 {
            0.0
        } else {
            l.bytes as f64 / l.messages as f64 * 8e3 / bps
        }
    });
    l.mean_queueing_ms + tx + link.latency.mean_ms()
}

/// Simulated counterparts of the analysed quantities, over replications.
pub struct Simulated {
    pub runs: Vec<Observed>,
}

impl Simulated {
    fn ci(&self, f: impl Fn(&Observed) -> f64) -> MeanCi {
        mean_ci95(&self.runs.iter().map(f).collect::<Vec<_>>())
    }
}

/// Theory below this prints as 0 (rounding can leave a zero a hair below it, which would print
/// "-0.0000"), and has no relative error: an idle queue's 10⁻⁷ against noise.
const ZERO_BELOW: f64 = 5e-5;

fn cell(theory: f64, quality: &Quality, sim: Option<MeanCi>) -> String {
    let theory = if theory.abs() < ZERO_BELOW {
        0.0
    } else {
        theory
    };
    let t = if quality.is_available() && theory.is_finite() {
        format!("{theory:.4}")
    } else {
        "n/a".into()
    };
    match sim {
        None => format!("{t:>10}"),
        Some(ci) => {
            let err = if quality.is_available() && theory.is_finite() && theory != 0.0 {
                format!("{:+.2}%", 100.0 * (ci.mean - theory) / theory)
            } else {
                "".into()
            };
            format!("{t:>10} {:>10.4} ±{:<8.4} {err:>8}", ci.mean, ci.half_width)
        }
    }
}

fn header(first: &str, w: usize, what: &str, sim: bool) -> String {
    if sim {
        format!(
            "{first:<w$} {what:<18} {:>10} {:>10} {:<9} {:>8}  method",
            "theory", "simulated", " 95% CI", "error"
        )
    } else {
        format!("{first:<w$} {what:<18} {:>10}  method", "theory")
    }
}

/// One number of the analysis: its quantity, the theory's value and method, and the simulated
/// counterpart when there is one.
struct Number<'a> {
    /// As the table labels it ("mean response ms").
    label: &'static str,
    /// As `analysis.csv` names it ("mean_response_ms").
    column: &'static str,
    theory: f64,
    quality: &'a Quality,
    sim: Option<MeanCi>,
    /// Whether the table shows it beside a simulation (a host's stretch has no simulated
    /// counterpart, so it is left out there; the CSV keeps it).
    beside_sim: bool,
}

/// What the numbers are of: a route, a service, a link direction or a host.
struct Entity<'a> {
    name: &'a str,
    /// A link direction's ends.
    ends: Option<(&'a str, &'a str)>,
    numbers: Vec<Number<'a>>,
    /// Which entities a long table keeps (the largest; by the second among equal first ones).
    rank: (f64, f64),
}

/// A table of the analysis: its header and its entities in model order.
struct Section<'a> {
    /// The header's first column, and `kind` in the CSV.
    kind: &'static str,
    /// Plural, and what the rank measures, for the line under a shortened table.
    plural: &'static str,
    ranked_by: &'static str,
    entities: Vec<Entity<'a>>,
}

fn quantity<'a>(
    label: &'static str,
    column: &'static str,
    theory: f64,
    quality: &'a Quality,
    sim: Option<MeanCi>,
) -> Number<'a> {
    Number {
        label,
        column,
        theory,
        quality,
        sim,
        beside_sim: true,
    }
}

/// A rank that puts what cannot be computed last, and an unbounded value (a saturated
/// station) first.
fn rank(x: f64) -> f64 {
    if x.is_nan() { f64::NEG_INFINITY } else { x }
}

/// The analysis as sections of entities, each number beside its simulated counterpart.
fn sections<'a>(a: &'a Analysis, sim: Option<&Simulated>) -> Vec<Section<'a>> {
    let routes = a
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| Entity {
            name: &r.route,
            ends: None,
            numbers: vec![quantity(
                "mean response ms",
                "mean_response_ms",
                r.mean_response_ms,
                &r.quality,
                sim.map(|x| x.ci(|run| run.route_mean_ms[i])),
            )],
            rank: (rank(r.mean_response_ms), 0.0),
        })
        .collect();
    let services = a
        .stations
        .iter()
        .enumerate()
        .map(|(i, st)| Entity {
            name: &st.name,
            ends: None,
            numbers: vec![
                quantity(
                    "utilisation",
                    "utilisation",
                    st.utilisation,
                    &st.utilisation_quality,
                    sim.map(|x| x.ci(|run| run.services[i][0])),
                ),
                quantity(
                    "mean queue length",
                    "mean_queue_length",
                    st.mean_queue_length,
                    &st.quality,
                    sim.map(|x| x.ci(|run| run.services[i][1])),
                ),
                quantity(
                    "mean wait ms",
                    "mean_wait_ms",
                    st.mean_wait_ms,
                    &st.quality,
                    sim.map(|x| x.ci(|run| run.services[i][2])),
                ),
            ],
            rank: (rank(st.utilisation), rank(st.arrival_rate_per_s)),
        })
        .collect();
    let links = a
        .links
        .iter()
        .enumerate()
        .map(|(i, l)| Entity {
            name: &l.link,
            ends: Some((&l.from, &l.to)),
            numbers: vec![
                quantity(
                    "utilisation",
                    "utilisation",
                    l.utilisation,
                    &EXACT,
                    sim.map(|x| x.ci(|run| run.links[i][0])),
                ),
                quantity(
                    "mean delay ms",
                    "mean_delay_ms",
                    l.mean_delay_ms,
                    &l.quality,
                    sim.map(|x| x.ci(|run| run.links[i][1])),
                ),
            ],
            rank: (rank(l.utilisation), rank(l.mean_delay_ms)),
        })
        .collect();
    let hosts = a
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| Entity {
            name: &h.name,
            ends: None,
            numbers: vec![
                quantity(
                    "cpu utilisation",
                    "cpu_utilisation",
                    h.utilisation,
                    &h.quality,
                    sim.map(|x| x.ci(|run| run.hosts[i][0])),
                ),
                quantity(
                    "mean computing",
                    "mean_computing",
                    h.mean_computing,
                    &h.quality,
                    sim.map(|x| x.ci(|run| run.hosts[i][1])),
                ),
                Number {
                    beside_sim: false,
                    ..quantity(
                        "ms per cpu ms",
                        "ms_per_cpu_ms",
                        h.stretch,
                        &h.quality,
                        None,
                    )
                },
            ],
            rank: (rank(h.utilisation), 0.0),
        })
        .collect();
    vec![
        Section {
            kind: "route",
            plural: "routes",
            ranked_by: "latency",
            entities: routes,
        },
        Section {
            kind: "service",
            plural: "services",
            ranked_by: "utilisation (then arrivals)",
            entities: services,
        },
        Section {
            kind: "link direction",
            plural: "link directions",
            ranked_by: "utilisation (then delay)",
            entities: links,
        },
        Section {
            kind: "host",
            plural: "hosts",
            ranked_by: "cpu utilisation",
            entities: hosts,
        },
    ]
}

/// The quality of a number that is exact.
static EXACT: Quality = Quality {
    approximations: std::collections::BTreeSet::new(),
    cannot: None,
};

/// The analysis as a table; with `sim`, each number beside its simulated mean and 95% CI. A
/// table of more than [`TERMINAL_ROWS`] routes, services, link directions or hosts shows the
/// largest (by latency or utilisation) and counts the rest, which `analysis.csv` has.
pub fn analysis_table(a: &Analysis, sim: Option<&Simulated>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "method: {}", a.method);
    let _ = writeln!(
        s,
        "throughput: {:.3} req/s [{}]",
        a.throughput_per_s, a.throughput_quality
    );
    if let Some(sim) = sim {
        let ci = sim.ci(|r| r.throughput_rps);
        let _ = writeln!(
            s,
            "simulated throughput: {:.3} ± {:.3} req/s ({} replications)",
            ci.mean, ci.half_width, ci.n
        );
    }
    let sections = sections(a, sim);
    let label = |e: &Entity| match e.ends {
        Some((from, to)) => format!("{} ({from}→{to})", e.name),
        None => e.name.to_string(),
    };
    let shown: Vec<Vec<usize>> = sections
        .iter()
        .map(|sec| shown_rows_by(&sec.entities, |e| e.rank))
        .collect();
    let w = sections
        .iter()
        .zip(&shown)
        .flat_map(|(sec, rows)| {
            rows.iter()
                .map(|&i| label(&sec.entities[i]).chars().count())
        })
        .max()
        .unwrap_or(8)
        .max(8);
    for (k, (sec, rows)) in sections.iter().zip(&shown).enumerate() {
        // Routes and services always have a table; links and hosts only when the model has some.
        if k >= 2 && sec.entities.is_empty() {
            continue;
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "{}", header(sec.kind, w, "quantity", sim.is_some()));
        for &i in rows {
            let e = &sec.entities[i];
            let numbers = e.numbers.iter().filter(|n| sim.is_none() || n.beside_sim);
            for (j, n) in numbers.enumerate() {
                let name = if j == 0 { label(e) } else { String::new() };
                let _ = writeln!(
                    s,
                    "{name:<w$} {:<18} {}  {}",
                    n.label,
                    cell(n.theory, n.quality, n.sim),
                    n.quality
                );
            }
        }
        more_line(
            &mut s,
            sec.entities.len(),
            sec.plural,
            sec.ranked_by,
            "analysis.csv",
        );
    }
    s
}

/// The columns of `analysis.csv`, without and with a simulation.
const COLUMNS: [&str; 7] = ["kind", "name", "from", "to", "quantity", "theory", "method"];
const SIMULATED_COLUMNS: [&str; 4] = [
    "simulated_mean",
    "simulated_ci95_half_width",
    "relative_error",
    "replications",
];

/// `analysis.csv`: one row per number of the analysis (every route, service, link direction and
/// host, however many), with its simulated mean, 95% interval and relative error with `sim`.
pub fn analysis_csv(a: &Analysis, sim: Option<&Simulated>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut columns: Vec<&str> = COLUMNS.to_vec();
    if sim.is_some() {
        columns.extend(SIMULATED_COLUMNS);
    }
    w.write_record(&columns).expect("in-memory write");
    for sec in sections(a, sim) {
        for e in &sec.entities {
            let (from, to) = e.ends.unwrap_or(("", ""));
            for n in &e.numbers {
                let available = n.quality.is_available() && n.theory.is_finite();
                let theory = if available {
                    crate::report::number(n.theory)
                } else {
                    String::new()
                };
                // "link direction" is a link's row with its ends: `link` in the CSV.
                let kind = sec.kind.split(' ').next().unwrap_or(sec.kind);
                let mut record = vec![
                    kind.to_string(),
                    e.name.to_string(),
                    from.to_string(),
                    to.to_string(),
                    n.column.to_string(),
                    theory,
                    n.quality.to_string(),
                ];
                if sim.is_some() {
                    match n.sim {
                        Some(ci) => {
                            let error = if available && n.theory.abs() >= ZERO_BELOW {
                                crate::report::number((ci.mean - n.theory) / n.theory)
                            } else {
                                String::new()
                            };
                            record.extend([
                                crate::report::number(ci.mean),
                                crate::report::number(ci.half_width),
                                error,
                                ci.n.to_string(),
                            ]);
                        }
                        None => record.extend([
                            String::new(),
                            String::new(),
                            String::new(),
                            String::new(),
                        ]),
                    }
                }
                w.write_record(&record).expect("in-memory write");
            }
        }
    }
    w.into_inner().expect("in-memory write")
}
