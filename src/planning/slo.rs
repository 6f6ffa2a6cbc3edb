//! Service-level objectives (`p99<=50ms`, `errors<=0.1%`, `order.create_order:mean<=20ms`) and
//! whether replications of a run meet one with 95% confidence.

use crate::model::Model;
use crate::sim::{RouteResult, RunResult};
use crate::stats::{MeanCi, mean_ci95};
use std::fmt;
use std::str::FromStr;

/// What an SLO bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SloMetric {
    MeanLatency,
    /// A latency quantile, e.g. 0.99.
    Quantile(f64),
    /// Errors / (completed + errors).
    ErrorRate,
}

/// `[route:]metric<=limit`: an upper bound on a metric of one route, or of all requests.
#[derive(Clone, Debug, PartialEq)]
pub struct Slo {
    /// As typed.
    pub text: String,
    pub route: Option<String>,
    pub metric: SloMetric,
    /// In ms for latencies, as a fraction for the error rate.
    pub limit: f64,
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const HELP: &str = "an SLO is [ROUTE:]METRIC<=LIMIT with METRIC one of mean, p50, p90, p95, p99, p999 (latency, LIMIT in ms or s, e.g. 50ms) or errors (LIMIT in %, e.g. 0.1%); e.g. \"p99<=50ms\", \"errors<=0.1%\", \"order.create_order:p99<=80ms\"";

impl FromStr for Slo {
    type Err = String;

    fn from_str(text: &str) -> Result<Slo, String> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        // `<` reads as `<=`: the metrics are continuous estimates, so the two bounds agree.
        let (lhs, rhs) = compact
            .split_once("<=")
            .or_else(|| compact.split_once('<'))
            .ok_or_else(|| format!("`{text}` has no `<=`; {HELP}"))?;
        let (route, metric) = match lhs.rsplit_once(':') {
            Some((r, m)) if !r.is_empty() => (Some(r.to_string()), m),
            _ => (None, lhs),
        };
        let metric = match metric {
            "mean" => SloMetric::MeanLatency,
            "p50" => SloMetric::Quantile(0.5),
            "p90" => SloMetric::Quantile(0.9),
            "p95" => SloMetric::Quantile(0.95),
            "p99" => SloMetric::Quantile(0.99),
            "p999" | "p99.9" => SloMetric::Quantile(0.999),
            "errors" | "error_rate" => SloMetric::ErrorRate,
            other => return Err(format!("unknown metric `{other}` in `{text}`; {HELP}")),
        };
        let number = |s: &str| -> Result<f64, String> {
            s.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0)
                .ok_or_else(|| format!("`{s}` is not a limit ≥ 0 in `{text}`; {HELP}"))
        };
        let limit = match metric {
            SloMetric::ErrorRate => match rhs.strip_suffix('%') {
                Some(p) => number(p)? / 100.0,
                None => number(rhs)?,
            },
            _ => {
                if let Some(ms) = rhs.strip_suffix("ms") {
                    number(ms)?
                } else if let Some(s) = rhs.strip_suffix('s') {
                    number(s)? * 1000.0
                } else {
                    number(rhs)?
                }
            }
        };
        if metric == SloMetric::ErrorRate && limit > 1.0 {
            return Err(format!("an error rate above 100% in `{text}`"));
        }
        Ok(Slo {
            text: text.trim().to_string(),
            route,
            metric,
            limit,
        })
    }
}

/// Whether a run kept up with its load: it ran to the end and was not saturated (its backlog
/// did not grow: see [`crate::sim::saturated`]), the same rule that flags runs in every output.
pub fn kept_up(r: &RunResult) -> bool {
    r.stopped.is_none() && !r.all.saturated
}

/// Whether replications meet an SLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The 95% confidence interval lies at or below the limit.
    Pass,
    /// It lies above.
    Fail,
    /// It straddles the limit: more replications might tell.
    Unsure,
}

impl Verdict {
    /// As written in `slo.csv` and `capacity_search.csv`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "meets",
            Verdict::Fail => "violates",
            Verdict::Unsure => "undecided",
        }
    }
}

impl Slo {
    /// Refuses an SLO naming a route the model does not have.
    pub fn check(&self, model: &Model) -> Result<(), String> {
        match &self.route {
            Some(r) if !model.routes.iter().any(|x| &x.name == r) => {
                let names: Vec<&str> = model.routes.iter().map(|x| x.name.as_str()).collect();
                Err(format!(
                    "the SLO `{}` names route `{r}`, which `{}` does not have; routes: {}",
                    self.text,
                    model.name,
                    names.join(", ")
                ))
            }
            _ => Ok(()),
        }
    }

    /// The metric as the user names it, with its route: `p99`, `order.create_order:mean`.
    pub fn metric_name(&self) -> String {
        self.text
            .split("<=")
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    }

    fn route<'a>(&self, r: &'a RunResult) -> &'a RouteResult {
        match &self.route {
            Some(name) => r.routes.iter().find(|x| &x.route == name).unwrap_or(&r.all),
            None => &r.all,
        }
    }

    /// The metric in one run: infinite when the run could not keep up (see [`kept_up`]) or
    /// nothing completed, so that such a load always fails.
    pub fn value(&self, r: &RunResult) -> f64 {
        if !kept_up(r) {
            return f64::INFINITY;
        }
        self.value_of(self.route(r))
    }

    /// The metric of one route's results: infinite when its run was saturated or nothing
    /// completed.
    pub fn value_of(&self, route: &RouteResult) -> f64 {
        if route.saturated {
            return f64::INFINITY;
        }
        let v = match self.metric {
            SloMetric::MeanLatency => route.latency.mean_ms(),
            SloMetric::Quantile(q) => route.latency.quantile_ms(q),
            SloMetric::ErrorRate => route.error_rate(),
        };
        if v.is_nan() { f64::INFINITY } else { v }
    }

    /// The mean of the metric over `runs` with its 95% confidence interval, and the verdict.
    pub fn judge(&self, runs: &[RunResult]) -> (MeanCi, Verdict) {
        let values: Vec<f64> = runs.iter().map(|r| self.value(r)).collect();
        self.judge_values(&values)
    }

    /// [`Slo::judge`] from the metric's value in each replication.
    pub fn judge_values(&self, values: &[f64]) -> (MeanCi, Verdict) {
        if values.iter().any(|v| v.is_infinite()) {
            let ci = MeanCi {
                mean: f64::INFINITY,
                half_width: 0.0,
                n: values.len(),
            };
            return (ci, Verdict::Fail);
        }
        let ci = mean_ci95(values);
        let verdict = if ci.mean + ci.half_width <= self.limit {
            Verdict::Pass
        } else if ci.mean - ci.half_width > self.limit {
            Verdict::Fail
        } else {
            Verdict::Unsure
        };
        (ci, verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slos_parse_with_units_and_routes() {
        let s: Slo = "p99<=50ms".parse().unwrap();
        assert_eq!(
            (s.metric, s.limit, s.route),
            (SloMetric::Quantile(0.99), 50.0, None)
        );
        let s: Slo = "errors <= 0.1%".parse().unwrap();
        assert_eq!(s.metric, SloMetric::ErrorRate);
        assert!((s.limit - 0.001).abs() < 1e-15);
        let s: Slo = "order.create_order:p99<=0.08s".parse().unwrap();
        assert_eq!(s.route.as_deref(), Some("order.create_order"));
        assert!((s.limit - 80.0).abs() < 1e-9);
        assert!(
            "p98<=5ms"
                .parse::<Slo>()
                .unwrap_err()
                .contains("unknown metric")
        );
        assert!("p99>=5ms".parse::<Slo>().unwrap_err().contains("<="));
        // `<` as typed by hand bounds the same way.
        let s: Slo = "p95 < 20ms".parse().unwrap();
        assert_eq!((s.metric, s.limit), (SloMetric::Quantile(0.95), 20.0));
        let s: Slo = "errors<1%".parse().unwrap();
        assert!((s.limit - 0.01).abs() < 1e-15);
        assert!("p99<<5ms".parse::<Slo>().is_err());
        assert!("errors<=200%".parse::<Slo>().is_err());
    }
}
