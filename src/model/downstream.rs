//! One downstream call of a stage: which endpoint, how likely, how many times.
//!
//! In the model file a call is a string (`"db.query"`: made once, always) or a table
//! (`{ call = "db.query", probability = 0.3, count = 4 }`, and `async = true` for a call its
//! caller does not wait for). A plain string draws no random number, so models without tables
//! give the results they always gave.

use super::EndpointId;
use super::diagnostic::Invalid;

/// Most copies one call of a stage may make (a call counts its pending calls in 16 bits).
pub const MAX_COUNT: u32 = 10_000;

/// A call an endpoint makes in one of its stages.
#[derive(Clone, Debug, PartialEq)]
pub struct Downstream {
    pub target: EndpointId,
    /// The chance that the call is made at all, per call of the endpoint.
    pub probability: f64,
    /// How many copies are made when it is (in parallel, within the stage).
    pub count: CallCount,
    /// Fire-and-forget (`async = true`): the caller sends it and goes on without waiting; the
    /// callee sends no response. Its work and its own calls still load the system.
    pub fire_and_forget: bool,
}

impl Downstream {
    /// A call made once, always (a plain string in the model file).
    pub fn once(target: EndpointId) -> Downstream {
        Downstream {
            target,
            probability: 1.0,
            count: CallCount::Fixed(1),
            fire_and_forget: false,
        }
    }

    /// Whether it is made once, always: it then needs no random draw.
    pub fn is_once(&self) -> bool {
        self.probability == 1.0 && self.count == CallCount::Fixed(1)
    }

    /// Whether the caller waits for it (its response is on the caller's path).
    pub fn is_awaited(&self) -> bool {
        !self.fire_and_forget
    }

    /// Expected calls to the target per call of the endpoint (its contribution to the visit
    /// ratio).
    pub fn mean_calls(&self) -> f64 {
        self.probability * self.count.mean()
    }

    /// The most copies one stage can make.
    pub fn max_calls(&self) -> u32 {
        self.count.max()
    }
}

/// How many copies of a call are made when it is made.
#[derive(Clone, Debug, PartialEq)]
pub enum CallCount {
    /// Always this many.
    Fixed(u32),
    /// Uniformly one of `min..=max`.
    Uniform { min: u32, max: u32 },
    /// One of `values`, value `i` with probability `weights[i] / Σ weights`; `cumulative` holds
    /// the normalised running sums, ending at 1.
    Table {
        values: Vec<u32>,
        weights: Vec<f64>,
        cumulative: Vec<f64>,
    },
}

impl CallCount {
    /// The mean number of copies.
    pub fn mean(&self) -> f64 {
        match self {
            CallCount::Fixed(n) => f64::from(*n),
            CallCount::Uniform { min, max } => (f64::from(*min) + f64::from(*max)) / 2.0,
            CallCount::Table { .. } => self.expectation(f64::from),
        }
    }

    /// E[f(N)] over the count N (summed term by term for a uniform count).
    pub fn expectation(&self, f: impl Fn(u32) -> f64) -> f64 {
        match self {
            CallCount::Fixed(n) => f(*n),
            CallCount::Uniform { min, max } => {
                (*min..=*max).map(&f).sum::<f64>() / f64::from(max - min + 1)
            }
            CallCount::Table {
                values, weights, ..
            } => {
                let total: f64 = weights.iter().sum();
                values
                    .iter()
                    .zip(weights)
                    .map(|(&v, w)| f(v) * w)
                    .sum::<f64>()
                    / total
            }
        }
    }

    /// The most copies.
    pub fn max(&self) -> u32 {
        match self {
            CallCount::Fixed(n) => *n,
            CallCount::Uniform { max, .. } => *max,
            CallCount::Table { values, .. } => values.iter().copied().max().unwrap_or(0),
        }
    }

    /// Draws a count from `u`, uniform in [0, 1).
    #[inline]
    pub fn draw(&self, u: f64) -> u32 {
        match self {
            CallCount::Fixed(n) => *n,
            CallCount::Uniform { min, max } => {
                let span = f64::from(max - min + 1);
                (min + (u * span) as u32).min(*max)
            }
            CallCount::Table {
                values, cumulative, ..
            } => {
                let i = cumulative.partition_point(|&c| c <= u);
                values[i.min(values.len() - 1)]
            }
        }
    }

    /// Whether drawing it needs a random number.
    pub fn is_random(&self) -> bool {
        !matches!(self, CallCount::Fixed(_))
    }
}

/// Reads one call of a stage: a string, or a `{ call, probability, count }` table. `resolve`
/// turns `service.endpoint` into an endpoint id (with its own located error).
pub fn parse(
    value: &toml::Value,
    path: &str,
    resolve: &dyn Fn(&str, &str) -> Result<EndpointId, Invalid>,
) -> Result<Downstream, Invalid> {
    let table = match value {
        toml::Value::String(s) => return Ok(Downstream::once(resolve(s, path)?)),
        toml::Value::Table(t) => t,
        other => {
            return Err(Invalid::at(
                path,
                format!(
                    "a call is a string or a table, got {}",
                    other.type_str()
                ),
            )
            .help(
                "write \"service.endpoint\", or { call = \"service.endpoint\", probability = 0.3, count = 2 }",
            ));
        }
    };
    for key in table.keys() {
        if !["call", "probability", "count", "async"].contains(&key.as_str()) {
            return Err(Invalid::at(
                &format!("{path}.{key}"),
                format!("unknown field `{key}` of a call"),
            )
            .help("a call table has `call` (required), `probability`, `count` and `async`"));
        }
    }
    let target = match table.get("call") {
        Some(toml::Value::String(s)) => resolve(s, &format!("{path}.call"))?,
        Some(other) => {
            return Err(Invalid::at(
                &format!("{path}.call"),
                format!("expected \"service.endpoint\", got {}", other.type_str()),
            ));
        }
        None => {
            return Err(Invalid::at(path, "a call table needs `call`")
                .help("e.g. { call = \"db.query\", probability = 0.3 }"));
        }
    };
    let probability = match table.get("probability") {
        None => 1.0,
        Some(v) => {
            let p_path = format!("{path}.probability");
            let p = number(v, &p_path)?;
            if !(p > 0.0 && p <= 1.0) {
                let e = Invalid::at(&p_path, format!("must be a probability in (0, 1], got {p}"));
                return Err(if p == 0.0 {
                    e.help("a call never made is left out of `calls`")
                } else {
                    e
                });
            }
            p
        }
    };
    let count = match table.get("count") {
        None => CallCount::Fixed(1),
        Some(v) => count(v, &format!("{path}.count"))?,
    };
    let fire_and_forget = match table.get("async") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(other) => {
            return Err(Invalid::at(
                &format!("{path}.async"),
                format!("expected true or false, got {}", other.type_str()),
            )
            .help("async = true: the caller does not wait for the call (fire-and-forget)"));
        }
    };
    Ok(Downstream {
        target,
        probability,
        count,
        fire_and_forget,
    })
}

fn number(v: &toml::Value, path: &str) -> Result<f64, Invalid> {
    match v {
        toml::Value::Integer(i) => Ok(*i as f64),
        toml::Value::Float(x) => Ok(*x),
        other => Err(Invalid::at(
            path,
            format!("expected a number, got {}", other.type_str()),
        )),
    }
}

/// A whole number of copies, 1 ≤ n ≤ [`MAX_COUNT`].
fn copies(v: &toml::Value, path: &str) -> Result<u32, Invalid> {
    let n = match v {
        toml::Value::Integer(i) => *i,
        other => {
            return Err(Invalid::at(
                path,
                format!("expected a whole number of calls, got {}", other.type_str()),
            ));
        }
    };
    if !(1..=i64::from(MAX_COUNT)).contains(&n) {
        return Err(Invalid::at(
            path,
            format!("must be a whole number of calls in 1..={MAX_COUNT}, got {n}"),
        )
        .help("a call made sometimes not at all takes a `probability`"));
    }
    Ok(n as u32)
}

const COUNT_FORMS: &str = "count = 4, count = { min = 1, max = 5 } (uniform), or count = { values = [1, 2, 4], weights = [0.5, 0.3, 0.2] }";

fn count(v: &toml::Value, path: &str) -> Result<CallCount, Invalid> {
    let t = match v {
        toml::Value::Integer(_) => return Ok(CallCount::Fixed(copies(v, path)?)),
        toml::Value::Table(t) => t,
        other => {
            return Err(Invalid::at(
                path,
                format!(
                    "expected a whole number or a table, got {}",
                    other.type_str()
                ),
            )
            .help(COUNT_FORMS));
        }
    };
    let keys: Vec<&str> = t.keys().map(String::as_str).collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    match sorted.as_slice() {
        ["max", "min"] => {
            let min = copies(&t["min"], &format!("{path}.min"))?;
            let max = copies(&t["max"], &format!("{path}.max"))?;
            if max < min {
                return Err(Invalid::at(
                    &format!("{path}.max"),
                    format!("max ({max}) is below min ({min})"),
                ));
            }
            Ok(CallCount::Uniform { min, max })
        }
        ["values"] | ["values", "weights"] => {
            let list = |key: &str| match &t[key] {
                toml::Value::Array(a) if !a.is_empty() => Ok(a),
                _ => Err(Invalid::at(
                    &format!("{path}.{key}"),
                    "expected a non-empty array",
                )),
            };
            let values = list("values")?
                .iter()
                .enumerate()
                .map(|(i, v)| copies(v, &format!("{path}.values.{i}")))
                .collect::<Result<Vec<u32>, _>>()?;
            let weights = match t.get("weights") {
                None => vec![1.0; values.len()],
                Some(_) => {
                    let w = list("weights")?
                        .iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let p = format!("{path}.weights.{i}");
                            let x = number(v, &p)?;
                            if !(x.is_finite() && x >= 0.0) {
                                return Err(Invalid::at(
                                    &p,
                                    format!("a weight is a finite number ≥ 0, got {x}"),
                                ));
                            }
                            Ok(x)
                        })
                        .collect::<Result<Vec<f64>, _>>()?;
                    if w.len() != values.len() {
                        return Err(Invalid::at(
                            &format!("{path}.weights"),
                            format!(
                                "{} weights for {} values: give one weight per value",
                                w.len(),
                                values.len()
                            ),
                        ));
                    }
                    w
                }
            };
            let total: f64 = weights.iter().sum();
            if !(total > 0.0 && total.is_finite()) {
                return Err(Invalid::at(
                    &format!("{path}.weights"),
                    "the weights must add up to more than 0",
                ));
            }
            let mut running = 0.0;
            let mut cumulative: Vec<f64> = weights
                .iter()
                .map(|w| {
                    running += w;
                    running / total
                })
                .collect();
            *cumulative.last_mut().expect("values is not empty") = 1.0;
            Ok(CallCount::Table {
                values,
                weights,
                cumulative,
            })
        }
        _ => Err(Invalid::at(
            path,
            format!(
                "a count table has `min` and `max`, or `values` and optional `weights`; got {}",
                keys.join(", ")
            ),
        )
        .help(COUNT_FORMS)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Downstream, String> {
        let v: toml::Value = toml::from_str::<toml::Table>(&format!("c = {text}"))
            .unwrap()
            .remove("c")
            .unwrap();
        parse(&v, "calls.0.0", &|name, _| Ok(name.len())).map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn a_string_is_one_certain_call() {
        let d = parsed("\"db.q\"").unwrap();
        assert!(d.is_once());
        assert_eq!(d.mean_calls(), 1.0);
    }

    #[test]
    fn tables_give_probability_and_counts() {
        let d = parsed("{ call = \"db.q\", probability = 0.3, count = 4 }").unwrap();
        assert!((d.mean_calls() - 1.2).abs() < 1e-12);
        let u = parsed("{ call = \"db.q\", count = { min = 1, max = 4 } }").unwrap();
        assert_eq!(u.mean_calls(), 2.5);
        assert_eq!(u.max_calls(), 4);
        let t =
            parsed("{ call = \"db.q\", count = { values = [1, 3], weights = [3, 1] } }").unwrap();
        assert_eq!(t.mean_calls(), 1.5);
        assert_eq!(t.count.draw(0.0), 1);
        assert_eq!(t.count.draw(0.74), 1);
        assert_eq!(t.count.draw(0.76), 3);
        assert_eq!(t.count.draw(0.999_999), 3);
        assert_eq!(u.count.draw(0.0), 1);
        assert_eq!(u.count.draw(0.999_999), 4);
        assert!(d.is_awaited());
        let a = parsed("{ call = \"audit.log\", async = true }").unwrap();
        assert!(!a.is_awaited() && a.is_once());
    }

    #[test]
    fn bad_calls_say_what_is_allowed() {
        for (text, wanted) in [
            ("3", "a call is a string or a table"),
            ("{ probability = 0.5 }", "needs `call`"),
            (
                "{ call = \"a.b\", probability = 0 }",
                "probability in (0, 1]",
            ),
            (
                "{ call = \"a.b\", probability = 1.5 }",
                "probability in (0, 1]",
            ),
            ("{ call = \"a.b\", count = 0 }", "1..=10000"),
            ("{ call = \"a.b\", count = 2.5 }", "whole number or a table"),
            (
                "{ call = \"a.b\", count = { min = 3, max = 2 } }",
                "below min",
            ),
            (
                "{ call = \"a.b\", count = { values = [1, 2], weights = [1] } }",
                "one weight per value",
            ),
            (
                "{ call = \"a.b\", count = { values = [1], weights = [0] } }",
                "more than 0",
            ),
            (
                "{ call = \"a.b\", count = { mean = 2 } }",
                "a count table has",
            ),
            ("{ call = \"a.b\", times = 2 }", "unknown field `times`"),
            ("{ call = \"a.b\", async = 1 }", "expected true or false"),
        ] {
            let e = parsed(text).unwrap_err();
            assert!(e.contains(wanted), "{text}: {e}");
        }
    }
}
