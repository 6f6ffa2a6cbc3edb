//! The answer before the details: the few numbers a reader of `report.html` looks for first,
//! read from the output folder's CSV files. A run gets throughput, errors, p50/p99, the
//! bottleneck, saturation and cost; a sweep gets where p99 leaves its floor (the knee) and the
//! SLO verdicts.

use super::escape;
use super::table::{Csv, rounded};
use std::fmt::Write;
use std::path::Path;

/// How far above its lowest value p99 must rise to have "left its floor": the knee of a sweep.
pub const KNEE_FACTOR: f64 = 1.5;

/// A headline number: three significant figures (whole numbers keep every digit, grouped).
fn short(x: f64) -> String {
    rounded(&crate::report::significant3(x).to_string())
}

/// One card of the headline.
struct Card {
    label: &'static str,
    value: String,
    detail: String,
    /// Drawn in the warning colour (errors, saturation).
    alarm: bool,
}

fn cards_html(cards: &[Card]) -> String {
    let mut s = String::from("<div class=\"cards\">");
    for c in cards {
        let _ = write!(
            s,
            "<div class=\"card{}\"><div class=\"k\">{}</div><div class=\"v\">{}</div><div class=\"d\">{}</div></div>",
            if c.alarm { " alarm" } else { "" },
            c.label,
            escape(&c.value),
            escape(&c.detail)
        );
    }
    s.push_str("</div>");
    s
}

/// The headline of a run folder, or `None` when it has no `summary.csv`.
pub fn run(dir: &Path) -> Option<String> {
    let summary = Csv::read(&dir.join("summary.csv"))?;
    let route = summary.col("route")?;
    let all = summary
        .rows
        .iter()
        .find(|r| r[route] == "all")
        .or((summary.rows.len() == 1).then(|| &summary.rows[0]))?;
    let num = |name: &str| summary.num(all, name).unwrap_or(f64::NAN);
    let requests = num("requests");
    let errors = num("errors");
    let error_rate = num("error_rate");
    let mut cards = vec![
        Card {
            label: "Throughput",
            value: format!("{} req/s", short(num("throughput_rps"))),
            detail: format!("{} requests measured", short(requests)),
            alarm: false,
        },
        Card {
            label: "Errors",
            value: format!("{}%", short(100.0 * error_rate)),
            detail: format!("{} failed", short(errors)),
            alarm: errors > 0.0,
        },
        Card {
            label: "Latency p50 / p99",
            value: format!("{} / {} ms", short(num("p50_ms")), short(num("p99_ms"))),
            detail: format!(
                "mean {} ms, max {} ms",
                short(num("mean_ms")),
                short(num("max_ms"))
            ),
            alarm: false,
        },
    ];
    if let Some(card) = bottleneck(dir) {
        cards.push(card);
    }
    // `saturated` is the run's verdict, repeated on every route: name the routes whose own
    // backlog is more than 1% of their requests (the run's threshold), most backlogged first,
    // and every route only when none is.
    let mut saturated: Vec<(&str, f64)> = summary
        .rows
        .iter()
        .filter(|r| r[route] != "all" && summary.num(r, "saturated").unwrap_or(0.0) > 0.0)
        .map(|r| {
            (
                r[route].as_str(),
                summary.num(r, "backlog_share").unwrap_or(0.0),
            )
        })
        .collect();
    saturated.sort_by(|a, b| b.1.total_cmp(&a.1));
    if saturated.iter().any(|r| r.1 > 0.01) {
        saturated.retain(|r| r.1 > 0.01);
    }
    let saturated: Vec<&str> = saturated.into_iter().map(|r| r.0).collect();
    cards.push(Card {
        label: "Saturated",
        value: if saturated.is_empty() {
            "no".into()
        } else {
            "yes".into()
        },
        detail: if saturated.is_empty() {
            format!(
                "{}% of requests still in flight at the end",
                short(100.0 * num("backlog_share"))
            )
        } else {
            format!("backlog growing: {}", saturated.join(", "))
        },
        alarm: !saturated.is_empty(),
    });
    if let Some(card) = cost(dir) {
        cards.push(card);
    }
    cards.extend(releases(dir));
    Some(cards_html(&cards))
}

/// The busiest service (or gateway) of `services.csv`.
/// Per release in `deployments.csv`: rolled back (when and why), completed, or still going.
fn releases(dir: &Path) -> Vec<Card> {
    let Some(steps) = Csv::read(&dir.join("deployments.csv")) else {
        return Vec::new();
    };
    let (Some(service), Some(step), Some(time), Some(detail)) = (
        steps.col("service"),
        steps.col("step"),
        steps.col("time_s"),
        steps.col("detail"),
    ) else {
        return Vec::new();
    };
    let mut services: Vec<&str> = steps.rows.iter().map(|r| r[service].as_str()).collect();
    services.dedup();
    services
        .into_iter()
        .map(|name| {
            let of = |what: &str| {
                steps
                    .rows
                    .iter()
                    .find(|r| r[service] == name && r[step] == what)
            };
            let (value, detail, alarm) = match (of("rollback"), of("done")) {
                (Some(r), _) => (
                    format!("rolled back at {} s", r[time]),
                    r[detail].clone(),
                    true,
                ),
                (None, Some(d)) => ("done".to_string(), format!("at {} s", d[time]), false),
                (None, None) => (
                    "in progress".to_string(),
                    "at the end of the run".to_string(),
                    false,
                ),
            };
            Card {
                label: "Release",
                value: format!("{name}: {value}"),
                detail,
                alarm,
            }
        })
        .collect()
}

fn bottleneck(dir: &Path) -> Option<Card> {
    let services = Csv::read(&dir.join("services.csv"))?;
    let name = services.col("service")?;
    let busiest = services.rows.iter().max_by(|a, b| {
        let u = |r: &Vec<String>| services.num(r, "utilisation").unwrap_or(0.0);
        u(a).total_cmp(&u(b))
    })?;
    let u = services.num(busiest, "utilisation")?;
    let mut detail = format!("utilisation {}%", short(100.0 * u));
    if only_fire_and_forget(dir, &busiest[name]) {
        detail.push_str(" · reached by fire-and-forget calls only: off the requests' path");
    }
    Some(Card {
        label: "Bottleneck",
        value: busiest[name].clone(),
        detail,
        alarm: u >= 0.9,
    })
}

/// Whether every call into `service` (per `edges.csv`) was fire-and-forget: its load then
/// does not lengthen any request.
fn only_fire_and_forget(dir: &Path, service: &str) -> bool {
    let Some(edges) = Csv::read(&dir.join("edges.csv")) else {
        return false;
    };
    let (Some(to), Some(_)) = (edges.col("to"), edges.col("async_calls")) else {
        return false;
    };
    let into: Vec<&Vec<String>> = edges.rows.iter().filter(|r| r[to] == service).collect();
    !into.is_empty()
        && into.iter().all(|r| {
            edges.num(r, "calls").is_some() && edges.num(r, "async_calls") == edges.num(r, "calls")
        })
}

/// The total of `cost.csv`, when the model has prices.
fn cost(dir: &Path) -> Option<Card> {
    let cost = Csv::read(&dir.join("cost.csv"))?;
    let item = cost.col("item")?;
    let total = cost.rows.iter().find(|r| r[item] == "total")?;
    Some(Card {
        label: "Cost",
        value: format!(
            "{} per hour",
            rounded(&cost.num(total, "cost_per_hour")?.to_string())
        ),
        detail: cost
            .num(total, "cost_per_million_requests")
            .map(|m| format!("{} per million successful requests", short(m)))
            .unwrap_or_default(),
        alarm: false,
    })
}

/// The headline of a sweep folder (`points.csv`, and `slo.csv` with `--slo`).
pub fn sweep(dir: &Path) -> Option<String> {
    let points = Csv::read(&dir.join("points.csv"))?;
    let route = points.col("route")?;
    // The parameters are the columns between point_id and route; the first is the x axis.
    let params: Vec<usize> = (1..route).collect();
    let x = *params.first()?;
    let mut sentences = Vec::new();
    let rows: Vec<&Vec<String>> = points.rows.iter().filter(|r| r[route] == "all").collect();
    // One series per value of the other parameters.
    let mut series: Vec<(String, Vec<&Vec<String>>)> = Vec::new();
    for r in rows {
        let key: Vec<String> = params[1..]
            .iter()
            .map(|&p| format!("{} = {}", points.header[p], r[p]))
            .collect();
        let key = key.join(", ");
        match series.iter_mut().find(|s| s.0 == key) {
            Some(s) => s.1.push(r),
            None => series.push((key, vec![r])),
        }
    }
    let x_name = &points.header[x];
    let mut cards = vec![Card {
        label: "Points",
        value: format!(
            "{} × {}",
            points.rows.iter().filter(|r| r[route] == "all").count(),
            points
                .rows
                .first()
                .and_then(|r| points.num(r, "replications"))
                .map_or("?".into(), short)
        ),
        detail: "points × replications each".into(),
        alarm: false,
    }];
    let single = series.len() == 1;
    // A parameter without an order (a load balancer, a region) has no knee: it gets where p99
    // is lowest and highest instead.
    let numeric = points
        .rows
        .iter()
        .all(|r| r[route] != "all" || r[x].parse::<f64>().is_ok());
    for (key, mut rows) in series.into_iter().take(6) {
        rows.sort_by(|a, b| {
            let v = |r: &Vec<String>| r[x].parse::<f64>().unwrap_or(f64::NAN);
            v(a).total_cmp(&v(b))
        });
        let p99: Vec<f64> = rows
            .iter()
            .map(|r| points.num(r, "p99_ms").unwrap_or(f64::NAN))
            .collect();
        let floor = p99
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f64::INFINITY, f64::min);
        if !floor.is_finite() {
            continue;
        }
        let within = if key.is_empty() {
            String::new()
        } else {
            format!(" ({key})")
        };
        if !numeric {
            let (sentence, series_cards) = categories(&points, &rows, x, &p99, &within);
            if single {
                cards.extend(series_cards);
            }
            sentences.push(sentence);
            continue;
        }
        let knee = p99.iter().position(|&v| v > KNEE_FACTOR * floor);
        let first_saturated = rows
            .iter()
            .position(|r| points.num(r, "saturated").unwrap_or(0.0) > 0.0);
        if single {
            cards.push(Card {
                label: "p99 floor",
                value: format!("{} ms", short(floor)),
                detail: "the lowest p99 of the sweep".into(),
                alarm: false,
            });
            cards.push(Card {
                label: "Knee",
                value: knee.map_or("none".into(), |k| rows[k][x].clone()),
                detail: match knee {
                    Some(k) => format!(
                        "{x_name}: p99 {} ms, above {KNEE_FACTOR}× the floor",
                        short(p99[k])
                    ),
                    None => format!("p99 within {KNEE_FACTOR}× its floor throughout"),
                },
                alarm: false,
            });
            cards.push(Card {
                label: "Saturated",
                value: first_saturated.map_or("no".into(), |k| format!("from {}", rows[k][x])),
                detail: if first_saturated.is_some() {
                    format!("{x_name}: the backlog grew through the run")
                } else {
                    "no point's backlog grew".into()
                },
                alarm: first_saturated.is_some(),
            });
        }
        let sentence = match knee {
            Some(k) => format!(
                "p99 leaves its floor (rises above {KNEE_FACTOR}× its lowest, {} ms) at <b>{x_name} = {}</b>{within}: {} ms there{}",
                short(floor),
                escape(&rows[k][x]),
                short(p99[k]),
                if k > 0 {
                    format!(
                        ", after {} ms at {}",
                        short(p99[k - 1]),
                        escape(&rows[k - 1][x])
                    )
                } else {
                    String::new()
                }
            ),
            None => format!(
                "p99 stays within {KNEE_FACTOR}× its floor of {} ms over the whole range of {x_name}{within}",
                short(floor)
            ),
        };
        let saturated = first_saturated
            .map(|k| format!("; saturated from {x_name} = {}", escape(&rows[k][x])))
            .unwrap_or_default();
        sentences.push(format!("{sentence}{saturated}."));
    }
    if let Some(slo) = slo_sentences(dir) {
        sentences.extend(slo);
    }
    if sentences.is_empty() {
        return None;
    }
    let mut s = cards_html(&cards);
    s.push_str("<ul class=\"headline\">");
    for line in sentences {
        let _ = write!(s, "<li>{line}</li>");
    }
    s.push_str("</ul>");
    Some(s)
}

/// The sentence and cards of one series over a parameter without an order (column `x` of
/// `points`): the values with the lowest and the highest p99 (`p99[k]` of `rows[k]`, at least one
/// finite), and the values that saturated. `within` names the series (empty when it is the only
/// one).
fn categories(
    points: &Csv,
    rows: &[&Vec<String>],
    x: usize,
    p99: &[f64],
    within: &str,
) -> (String, Vec<Card>) {
    let x_name = &points.header[x];
    let measured = || (0..rows.len()).filter(|&k| p99[k].is_finite());
    let lowest = measured()
        .min_by(|&a, &b| p99[a].total_cmp(&p99[b]))
        .unwrap_or(0);
    let highest = measured()
        .max_by(|&a, &b| p99[a].total_cmp(&p99[b]))
        .unwrap_or(0);
    // A lowest p99 of zero (no latency at all) has no multiple.
    let times =
        (p99[lowest] > 0.0).then(|| format!("{}× the lowest", short(p99[highest] / p99[lowest])));
    let saturated: Vec<&str> = rows
        .iter()
        .filter(|r| points.num(r, "saturated").unwrap_or(0.0) > 0.0)
        .map(|r| r[x].as_str())
        .collect();
    let cards = vec![
        Card {
            label: "Lowest p99",
            value: rows[lowest][x].clone(),
            detail: format!("{x_name}: p99 {} ms", short(p99[lowest])),
            alarm: false,
        },
        Card {
            label: "Highest p99",
            value: rows[highest][x].clone(),
            detail: match &times {
                Some(times) => format!("p99 {} ms, {times}", short(p99[highest])),
                None => format!("p99 {} ms", short(p99[highest])),
            },
            alarm: false,
        },
        Card {
            label: "Saturated",
            value: if saturated.is_empty() {
                "no".into()
            } else {
                saturated.join(", ")
            },
            detail: if saturated.is_empty() {
                "no point's backlog grew".into()
            } else {
                format!("{x_name}: the backlog grew through the run")
            },
            alarm: !saturated.is_empty(),
        },
    ];
    let at = |k: usize| format!("<b>{x_name} = {}</b>", escape(&rows[k][x]));
    let mut sentence = if lowest == highest {
        format!("p99 is {} ms at {}{within}", short(p99[lowest]), at(lowest))
    } else {
        format!(
            "p99 is lowest at {}{within}, {} ms, and highest at {}, {} ms{}",
            at(lowest),
            short(p99[lowest]),
            at(highest),
            short(p99[highest]),
            times.map(|t| format!(" ({t})")).unwrap_or_default()
        )
    };
    // Overlapping intervals: the order of the two may be the replications' noise.
    let ci = |k: usize| points.num(rows[k], "p99_ms_ci95").filter(|c| c.is_finite());
    if lowest != highest
        && let (Some(low), Some(high)) = (ci(lowest), ci(highest))
        && p99[lowest] + low >= p99[highest] - high
    {
        sentence.push_str(
            "; their 95% intervals overlap (more --reps or a longer run would tell them apart)",
        );
    }
    if !saturated.is_empty() {
        let names: Vec<String> = saturated.iter().map(|v| escape(v)).collect();
        let _ = write!(sentence, "; saturated at {x_name} = {}", names.join(", "));
    }
    sentence.push('.');
    (sentence, cards)
}

/// The headline of a capacity folder (`capacity.csv`): per SLO, the capacity and its interval,
/// or why there is none; and the bottleneck at the capacity of all SLOs together.
pub fn capacity(dir: &Path) -> Option<String> {
    let table = Csv::read(&dir.join("capacity.csv"))?;
    let (slo, status) = (table.col("slo")?, table.col("status")?);
    let mut cards = Vec::new();
    // Four cards at most: past four SLOs, the first three and the last row (all of them together),
    // which is the capacity the user plans with.
    let shown = table.rows.len().min(4);
    let rows = table
        .rows
        .iter()
        .take(shown.saturating_sub(1))
        .chain(table.rows.last());
    for r in rows {
        let rps = |c: &str| table.num(r, c).map_or("?".into(), short);
        let name = if r[slo] == "all" {
            "all SLOs together"
        } else {
            r[slo].as_str()
        };
        let (value, detail, alarm) = match r[status].as_str() {
            "ok" => (
                format!("{} req/s", rps("capacity_rps")),
                format!(
                    "{name}; 95% interval {}–{} req/s",
                    rps("ci95_low_rps"),
                    rps("ci95_high_rps")
                ),
                false,
            ),
            "unbounded" => (
                format!("≥ {} req/s", rps("ci95_low_rps")),
                format!("{name}: still met at the highest rate tried"),
                false,
            ),
            "never_met" => (
                "none".into(),
                format!("{name}: missed even when idle"),
                true,
            ),
            _ => (
                "undecided".into(),
                format!("{name}: on its limit at the lowest rate tried"),
                true,
            ),
        };
        cards.push(Card {
            label: "Capacity",
            value,
            detail,
            alarm,
        });
    }
    // With several SLOs the last row is all of them together, whose bottleneck bounds them.
    let last = table.rows.last()?;
    if let Some(b) = table.col("bottleneck").filter(|&b| !last[b].is_empty()) {
        cards.push(Card {
            label: "Bottleneck",
            value: last[b].clone(),
            detail: table
                .num(last, "bottleneck_utilisation")
                .map(|u| format!("utilisation {}% at the capacity", short(100.0 * u)))
                .unwrap_or_default(),
            alarm: false,
        });
    }
    Some(cards_html(&cards))
}

/// The headline of a compare folder (`compare.csv`): per architecture its capacity and the cost
/// of meeting the SLOs at the reference load, and where the cheaper one changes.
pub fn compare(dir: &Path) -> Option<String> {
    let table = Csv::read(&dir.join("compare.csv"))?;
    let name = table.col("architecture")?;
    let mut cards = Vec::new();
    for r in table.rows.iter().take(4) {
        let value = |c: &str| table.num(r, c).map_or("?".into(), short);
        // A model without a [cost] table has no price to right-size by.
        let cost = table
            .num(r, "cost_per_hour")
            .filter(|c| c.is_finite())
            .map_or("no prices".into(), |c| {
                format!("{} per hour", rounded(&c.to_string()))
            });
        cards.push(Card {
            label: "Architecture",
            value: r[name].clone(),
            detail: format!(
                "capacity {} req/s; right-sized at {} req/s: {cost}, p99 {} ms",
                value("capacity_rps"),
                value("reference_rps"),
                value("p99_ms")
            ),
            alarm: false,
        });
    }
    let first = table.rows.first()?;
    if let (Some(low), Some(high)) = (
        table.num(first, "crossover_low_rps"),
        table.num(first, "crossover_high_rps"),
    ) {
        // Of two, the one dearer at a reference load below the crossover is the cheaper above
        // it, and the one cheaper at a reference above it.
        let reference = table.num(first, "reference_rps").unwrap_or(f64::NAN);
        let cost = |r: &Vec<String>| table.num(r, "cost_per_hour").unwrap_or(f64::NAN);
        let above = match table.rows.as_slice() {
            [a, b] if reference < low => Some(if cost(a) > cost(b) { a } else { b }),
            [a, b] if reference > high => Some(if cost(a) < cost(b) { a } else { b }),
            _ => None,
        };
        let detail = above.map_or_else(
            || "where the cheaper way to meet the SLOs changes".into(),
            |r| format!("above it, {} is the cheaper way to meet the SLOs", r[name]),
        );
        cards.push(Card {
            label: "Crossover",
            value: format!("{}–{} req/s", short(low), short(high)),
            detail,
            alarm: false,
        });
    }
    Some(cards_html(&cards))
}

/// Per SLO of `slo.csv`: how many points meet it, and the first that does not.
fn slo_sentences(dir: &Path) -> Option<Vec<String>> {
    let slo = Csv::read(&dir.join("slo.csv"))?;
    let (name, verdict) = (slo.col("slo")?, slo.col("verdict")?);
    // The parameters sit between point_id and slo.
    let params = 1..name;
    let at = |r: &Vec<String>| {
        params
            .clone()
            .map(|p| format!("{} = {}", slo.header[p], escape(&r[p])))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut names: Vec<&str> = Vec::new();
    for r in &slo.rows {
        if !names.contains(&r[name].as_str()) {
            names.push(&r[name]);
        }
    }
    Some(
        names
            .into_iter()
            .map(|n| {
                let rows: Vec<&Vec<String>> = slo.rows.iter().filter(|r| r[name] == n).collect();
                let failing: Vec<&&Vec<String>> =
                    rows.iter().filter(|r| r[verdict] != "meets").collect();
                let first = failing
                    .first()
                    .map(|r| format!("; first miss at {} ({})", at(r), escape(&r[verdict])))
                    .unwrap_or_default();
                format!(
                    "SLO <b>{}</b>: met at {} of {} points{first}.",
                    escape(n),
                    rows.len() - failing.len(),
                    rows.len()
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_knee_is_the_first_point_where_p99_rises_past_its_floor() {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::from("point_id,workload.rate_per_s,route,p99_ms,saturated\n");
        // Out of order on purpose: the knee follows the parameter, not the row order.
        for (id, (rate, p99)) in [
            (300, 14.0),
            (100, 10.0),
            (200, 11.0),
            (400, 16.0),
            (500, 300.0),
        ]
        .into_iter()
        .enumerate()
        {
            let saturated = if rate == 500 { 1 } else { 0 };
            csv.push_str(&format!(
                "{id},{rate},all,{p99},{saturated}\n{id},{rate},a.b,1,0\n"
            ));
        }
        std::fs::write(dir.path().join("points.csv"), csv).unwrap();
        let h = sweep(dir.path()).unwrap();
        // Floor 10 ms; 14 ≤ 15 stays on it, 16 > 15 leaves it.
        assert!(h.contains("rises above 1.5× its lowest, 10 ms) at <b>workload.rate_per_s = 400</b>: 16 ms there, after 14 ms at 300"), "{h}");
        assert!(
            h.contains("saturated from workload.rate_per_s = 500"),
            "{h}"
        );
    }

    #[test]
    fn a_sweep_over_categories_names_the_lowest_and_highest_p99_not_a_knee() {
        let dir = tempfile::tempdir().unwrap();
        let balancer = "services.api.load_balancer";
        let mut csv = format!("point_id,{balancer},route,p99_ms,p99_ms_ci95,saturated\n");
        for (id, (value, p99, saturated)) in [
            ("round_robin", 12.0, 0),
            ("random", 40.0, 1),
            ("least_outstanding", 9.5, 0),
        ]
        .into_iter()
        .enumerate()
        {
            csv.push_str(&format!("{id},{value},all,{p99},1,{saturated}\n"));
        }
        std::fs::write(dir.path().join("points.csv"), csv).unwrap();
        let h = sweep(dir.path()).unwrap();
        assert!(
            h.contains(&format!("p99 is lowest at <b>{balancer} = least_outstanding</b>, 9.5 ms, and highest at <b>{balancer} = random</b>, 40 ms (4.21× the lowest); saturated at {balancer} = random.")),
            "{h}"
        );
        assert!(
            h.contains("<div class=\"k\">Lowest p99</div><div class=\"v\">least_outstanding</div>"),
            "{h}"
        );
        assert!(!h.contains("Knee") && !h.contains("floor"), "{h}");
        assert!(!h.contains("overlap"), "9.5 ± 1 and 40 ± 1 are apart: {h}");
        // Values whose intervals overlap are said to be within the noise.
        let close = std::fs::read_to_string(dir.path().join("points.csv"))
            .unwrap()
            .replace("random,all,40,1,1", "random,all,11,1,0");
        std::fs::write(dir.path().join("points.csv"), close).unwrap();
        let h = sweep(dir.path()).unwrap();
        assert!(
            h.contains("= round_robin</b>, 12 ms (1.26× the lowest).") && !h.contains("overlap"),
            "9.5 ± 1 and 12 ± 1 are apart: {h}"
        );
        let closer = std::fs::read_to_string(dir.path().join("points.csv"))
            .unwrap()
            .replace("round_robin,all,12,1,0", "round_robin,all,10,1,0");
        std::fs::write(dir.path().join("points.csv"), closer).unwrap();
        let h = sweep(dir.path()).unwrap();
        assert!(
            h.contains("= random</b>, 11 ms (1.16× the lowest); their 95% intervals overlap"),
            "9.5 ± 1 and 11 ± 1 overlap: {h}"
        );
        // A lowest p99 of zero has no multiple (it read "inf× the lowest").
        let zero = std::fs::read_to_string(dir.path().join("points.csv"))
            .unwrap()
            .replace(
                "least_outstanding,all,9.5,1,0",
                "least_outstanding,all,0,0,0",
            );
        std::fs::write(dir.path().join("points.csv"), zero).unwrap();
        let h = sweep(dir.path()).unwrap();
        assert!(h.contains("= random</b>, 11 ms."), "{h}");
        assert!(!h.contains("inf") && !h.contains("× the lowest"), "{h}");
    }

    #[test]
    fn a_capacity_headline_gives_each_slos_capacity_and_the_bottleneck() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("capacity.csv"),
            "slo,status,capacity_rps,ci95_low_rps,ci95_high_rps,bottleneck,bottleneck_utilisation,note\n\
             p99<=200ms,ok,1629.090236,1620.453914,1637.333642,api,0.997327,x\n\
             p50<=1ms,never_met,0,0,13.3,,,x\n\
             all,never_met,0,0,13.3,,,x\n",
        )
        .unwrap();
        let h = capacity(dir.path()).unwrap();
        assert!(
            h.contains("<div class=\"v\">1629 req/s</div><div class=\"d\">p99&lt;=200ms; 95% interval 1620–1637 req/s</div>"),
            "{h}"
        );
        assert!(
            h.contains("card alarm\"><div class=\"k\">Capacity</div><div class=\"v\">none</div><div class=\"d\">p50&lt;=1ms: missed even when idle"),
            "{h}"
        );
        // No bottleneck where all SLOs together have no capacity.
        assert!(!h.contains("Bottleneck"), "{h}");
        // Past four SLOs, the first three and all of them together.
        let many: String = (1..=5)
            .map(|i| format!("p{i}0<=200ms,ok,{i}00,{i}00,{i}00,api,0.9,x\n"))
            .collect();
        std::fs::write(
            dir.path().join("capacity.csv"),
            format!("slo,status,capacity_rps,ci95_low_rps,ci95_high_rps,bottleneck,bottleneck_utilisation,note\n{many}all,ok,90,80,95,api,0.9,x\n"),
        )
        .unwrap();
        let h = capacity(dir.path()).unwrap();
        assert_eq!(
            h.matches("<div class=\"k\">Capacity</div>").count(),
            4,
            "{h}"
        );
        assert!(h.contains("<div class=\"d\">p30&lt;=200ms;"), "{h}");
        assert!(!h.contains("p40&lt;=200ms"), "{h}");
        assert!(
            h.contains("<div class=\"v\">90 req/s</div><div class=\"d\">all SLOs together;"),
            "{h}"
        );
        std::fs::write(
            dir.path().join("capacity.csv"),
            "slo,status,capacity_rps,ci95_low_rps,ci95_high_rps,bottleneck,bottleneck_utilisation,note\n\
             p99<=200ms,ok,1629.090236,1620.453914,1637.333642,api,0.997327,x\n",
        )
        .unwrap();
        let h = capacity(dir.path()).unwrap();
        assert!(
            h.contains(
                "<div class=\"v\">api</div><div class=\"d\">utilisation 99.7% at the capacity"
            ),
            "{h}"
        );
    }

    #[test]
    fn a_compare_headline_gives_each_architecture_and_the_crossover() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("compare.csv"),
            "architecture,capacity_rps,ci95_low_rps,ci95_high_rps,bottleneck,reference_rps,rightsized_instances,cost_per_hour,cost_per_million_requests,p50_ms,p99_ms,network_share,crossover_rps,crossover_low_rps,crossover_high_rps\n\
             monolith,2015.53886,2010.25641,2026.666667,shop,400,shop=1,0.85,0.595227,2.857369,25.280511,0.046505,952.095557,900,1000\n\
             microservices,1974.179317,1968,1992,web,400,web=1,1.171537,0.810864,4.286873,18.428722,0.255869,952.095557,900,1000\n",
        )
        .unwrap();
        let h = compare(dir.path()).unwrap();
        assert!(
            h.contains("<div class=\"v\">monolith</div><div class=\"d\">capacity 2016 req/s; right-sized at 400 req/s: 0.85 per hour, p99 25.3 ms</div>"),
            "{h}"
        );
        assert!(
            h.contains("<div class=\"k\">Crossover</div><div class=\"v\">900–1000 req/s</div><div class=\"d\">above it, microservices is the cheaper way to meet the SLOs</div>"),
            "{h}"
        );
        // Models without prices: the cards still give capacity and latency.
        std::fs::write(
            dir.path().join("compare.csv"),
            "architecture,capacity_rps,reference_rps,cost_per_hour,p99_ms,crossover_low_rps,crossover_high_rps\n\
             a,100,40,,5,,\nb,200,40,,6,,\n",
        )
        .unwrap();
        let h = compare(dir.path()).unwrap();
        assert!(
            h.contains("<div class=\"v\">b</div><div class=\"d\">capacity 200 req/s; right-sized at 40 req/s: no prices, p99 6 ms</div>"),
            "{h}"
        );
        assert!(!h.contains("Crossover"), "{h}");
    }

    #[test]
    fn a_run_headline_names_the_busiest_service_and_the_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("summary.csv"),
            "route,requests,errors,error_rate,throughput_rps,mean_ms,p50_ms,p99_ms,max_ms,saturated,backlog_share\n\
             a.x,100,2,0.02,10,5,4,20,30,0,0\nall,100,2,0.02,10,5,4,20,30,0,0\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("services.csv"),
            "service,utilisation\ngateway,0.1\ndb,0.93\na,0.5\n",
        )
        .unwrap();
        let h = run(dir.path()).unwrap();
        assert!(
            h.contains("<div class=\"v\">db</div><div class=\"d\">utilisation 93%"),
            "{h}"
        );
        assert!(
            h.contains("card alarm\"><div class=\"k\">Errors</div><div class=\"v\">2%"),
            "{h}"
        );
        assert!(h.contains("<div class=\"v\">4 / 20 ms</div>"), "{h}");
    }

    #[test]
    fn the_saturated_card_names_the_routes_whose_backlog_grew() {
        // The run's verdict is on every row; only b.slow and c.slower kept a backlog.
        let dir = tempfile::tempdir().unwrap();
        let summary = |shares: [f64; 3]| {
            let mut csv = String::from(
                "route,requests,errors,error_rate,throughput_rps,mean_ms,p50_ms,p99_ms,max_ms,saturated,backlog_share\n",
            );
            for (name, share) in ["a.fast", "b.slow", "c.slower"].iter().zip(shares) {
                csv.push_str(&format!("{name},100,0,0,10,5,4,20,30,1,{share}\n"));
            }
            csv.push_str("all,300,0,0,30,5,4,20,30,1,0.2\n");
            std::fs::write(dir.path().join("summary.csv"), csv).unwrap();
            run(dir.path()).unwrap()
        };
        let h = summary([0.0002, 0.3, 0.6]);
        assert!(h.contains("backlog growing: c.slower, b.slow</div>"), "{h}");
        // A run stopped early may leave no route past 1%: then every route is named.
        let h = summary([0.0, 0.001, 0.002]);
        assert!(
            h.contains("backlog growing: c.slower, b.slow, a.fast</div>"),
            "{h}"
        );
    }
}
