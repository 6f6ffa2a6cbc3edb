//! `meshsim analyze`: theory per route, station and link, optionally beside a simulation.

use crate::analysis::{Analysis, Quality};
use crate::model::Model;
use crate::sim::RunResult;
use crate::stats::{MeanCi, mean_ci95};
use std::fmt::Write;

/// Simulated counterparts of the analysed quantities, over replications.
pub struct Simulated<'a> {
    pub model: &'a Model,
    pub runs: &'a [RunResult],
}

impl Simulated<'_> {
    fn ci(&self, f: impl Fn(&RunResult) -> f64) -> MeanCi {
        mean_ci95(&self.runs.iter().map(f).collect::<Vec<_>>())
    }

    /// Mean delay of a message on link direction `i`: queueing + serialisation + propagation.
    fn link_delay(&self, r: &RunResult, i: usize) -> f64 {
        let l = &r.links[i];
        let link = &self.model.links[i / 2];
        let tx = link.bandwidth_bps.map_or(0.0, |bps| {
            if l.messages == 0 {
                0.0
            } else {
                l.bytes as f64 / l.messages as f64 * 8e3 / bps
            }
        });
        l.mean_queueing_ms + tx + link.latency.mean_ms()
    }
}

fn cell(theory: f64, quality: &Quality, sim: Option<MeanCi>) -> String {
    // Rounding can leave a zero a hair below it: it prints as 0, not "-0.0000".
    let theory = if theory.abs() < 5e-5 { 0.0 } else { theory };
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

/// The analysis as a table; with `sim`, each number beside its simulated mean and 95% CI.
pub fn analysis_table(a: &Analysis, sim: Option<&Simulated>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "method: {}", a.method);
    let _ = writeln!(
        s,
        "throughput: {:.3} req/s [{}]",
        a.throughput_per_s, a.throughput_quality
    );
    if let Some(sim) = sim {
        let ci = sim.ci(|r| r.all.throughput_rps());
        let _ = writeln!(
            s,
            "simulated throughput: {:.3} ± {:.3} req/s ({} replications)",
            ci.mean, ci.half_width, ci.n
        );
    }
    let _ = writeln!(s);
    let names = a
        .routes
        .iter()
        .map(|r| r.route.len())
        .chain(a.stations.iter().map(|x| x.name.len()));
    let w = names
        .chain(
            a.links
                .iter()
                .map(|l| l.link.len() + l.from.len() + l.to.len() + 4),
        )
        .max()
        .unwrap_or(8)
        .max(8);
    let _ = writeln!(s, "{}", header("route", w, "quantity", sim.is_some()));
    for (i, r) in a.routes.iter().enumerate() {
        let c = sim.map(|x| x.ci(|run| run.routes[i].latency.mean_ms()));
        let _ = writeln!(
            s,
            "{:<w$} {:<18} {}  {}",
            r.route,
            "mean response ms",
            cell(r.mean_response_ms, &r.quality, c),
            r.quality
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{}", header("service", w, "quantity", sim.is_some()));
    for (i, st) in a.stations.iter().enumerate() {
        let rows: [(&str, f64, Option<MeanCi>); 3] = [
            (
                "utilisation",
                st.utilisation,
                sim.map(|x| x.ci(|run| run.services[i].utilisation)),
            ),
            (
                "mean queue length",
                st.mean_queue_length,
                sim.map(|x| x.ci(|run| run.services[i].mean_queue_length)),
            ),
            (
                "mean wait ms",
                st.mean_wait_ms,
                sim.map(|x| x.ci(|run| run.services[i].mean_wait_ms)),
            ),
        ];
        for (k, (what, theory, c)) in rows.into_iter().enumerate() {
            let q = if k == 0 {
                st.utilisation_quality.clone()
            } else {
                st.quality.clone()
            };
            let _ = writeln!(
                s,
                "{:<w$} {:<18} {}  {}",
                if k == 0 { st.name.as_str() } else { "" },
                what,
                cell(theory, &q, c),
                q
            );
        }
    }
    if !a.links.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{}",
            header("link direction", w, "quantity", sim.is_some())
        );
        for (i, l) in a.links.iter().enumerate() {
            let name = format!("{} ({}→{})", l.link, l.from, l.to);
            let u = sim.map(|x| x.ci(|run| run.links[i].utilisation));
            let d = sim.map(|x| x.ci(|run| x.link_delay(run, i)));
            let _ = writeln!(
                s,
                "{name:<w$} {:<18} {}  exact",
                "utilisation",
                cell(l.utilisation, &Quality::exact(), u)
            );
            let _ = writeln!(
                s,
                "{:<w$} {:<18} {}  {}",
                "",
                "mean delay ms",
                cell(l.mean_delay_ms, &l.quality, d),
                l.quality
            );
        }
    }
    if !a.hosts.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "{}", header("host", w, "quantity", sim.is_some()));
        for (i, h) in a.hosts.iter().enumerate() {
            let rows: [(&str, f64, Option<MeanCi>); 3] = [
                (
                    "cpu utilisation",
                    h.utilisation,
                    sim.map(|x| x.ci(|run| run.hosts[i].cpu_utilisation)),
                ),
                (
                    "mean computing",
                    h.mean_computing,
                    sim.map(|x| x.ci(|run| run.hosts[i].mean_computing)),
                ),
                ("ms per cpu ms", h.stretch, None),
            ];
            for (k, (what, theory, c)) in rows.into_iter().enumerate() {
                // With a simulation, the stretch has no simulated column: leave it out.
                if c.is_none() && sim.is_some() {
                    continue;
                }
                let _ = writeln!(
                    s,
                    "{:<w$} {:<18} {}  {}",
                    if k == 0 { h.name.as_str() } else { "" },
                    what,
                    cell(theory, &h.quality, c),
                    h.quality
                );
            }
        }
    }
    s
}
