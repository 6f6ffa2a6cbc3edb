//! Probability distributions of durations (service times, latencies, think times).
//!
//! A [`Dist`] is validated once when the model is loaded and keeps its `rand_distr` sampler with
//! precomputed parameters, so sampling in the event loop does no parameter arithmetic.

mod parse;

pub(super) use parse::duration_value;

use crate::engine::{SimRng, SimTime};
use rand::RngExt;
use rand_distr::{Distribution, Exp, Gamma, LogNormal, Normal, Pareto, Weibull};
use std::sync::Arc;

/// A distribution's family and parameters in 16 bytes when it is one of the two most models use
/// (constant, exponential), for the records the simulation reads at every call: a [`Dist`] is
/// larger than a cache line's share a record can give it, and in a model of thousands of
/// services, reading it from the model's own record is a cache miss.
#[derive(Clone, Copy, Debug)]
pub enum Inline {
    Constant(SimTime),
    Exponential(Exp<f64>),
    /// Another family: drawn from the [`Dist`] itself.
    Elsewhere,
}

impl Inline {
    /// A draw from `dist`, which this was made from: the same draw, from the same random
    /// numbers, as [`Dist::sample`], without reading `dist` for the two inline families.
    #[inline(always)]
    pub fn sample_or(self, dist: &Dist, rng: &mut SimRng) -> SimTime {
        match self {
            Inline::Constant(t) => t,
            Inline::Exponential(e) => SimTime::from_nanos_f64(e.sample(rng)),
            Inline::Elsewhere => dist.sample(rng),
        }
    }
}

/// A distribution of durations, sampled in nanoseconds.
#[derive(Clone, Debug)]
pub enum Dist {
    /// Always the same value.
    Constant { ns: u64 },
    /// Exponential (memoryless), as in M/M/c queues.
    Exponential { mean_ms: f64, sampler: Exp<f64> },
    /// Uniform on `[min_ms, max_ms]`.
    Uniform { min_ms: f64, max_ms: f64 },
    /// Normal with mean and standard deviation, truncated at zero (negative draws are redrawn).
    Normal {
        mean_ms: f64,
        sd_ms: f64,
        sampler: Normal<f64>,
    },
    /// Log-normal given by its mean and coefficient of variation (not by the underlying normal's
    /// parameters, which nobody measures).
    LogNormal {
        mean_ms: f64,
        cv: f64,
        sampler: LogNormal<f64>,
    },
    /// Gamma given by its mean and coefficient of variation.
    Gamma {
        mean_ms: f64,
        cv: f64,
        sampler: Gamma<f64>,
    },
    /// Weibull with shape `k` and scale.
    Weibull {
        shape: f64,
        scale_ms: f64,
        sampler: Weibull<f64>,
    },
    /// Pareto (heavy-tailed) with shape `alpha` and scale (minimum value).
    Pareto {
        shape: f64,
        scale_ms: f64,
        sampler: Pareto<f64>,
    },
    /// Resamples measured values uniformly (bootstrap).
    Empirical { samples_ns: Arc<[u64]> },
}

/// Why distribution parameters were refused; the model loader adds where they came from.
pub type ParamError = String;

const NS_PER_MS: f64 = 1e6;

impl Dist {
    /// Its [`Inline`] form.
    pub fn inline(&self) -> Inline {
        match self {
            Dist::Constant { ns } => Inline::Constant(SimTime(*ns)),
            Dist::Exponential { sampler, .. } => Inline::Exponential(*sampler),
            _ => Inline::Elsewhere,
        }
    }

    /// A constant duration in milliseconds.
    pub fn constant_ms(ms: f64) -> Result<Dist, ParamError> {
        check_non_negative("value_ms", ms)?;
        Ok(Dist::Constant {
            ns: SimTime::from_millis_f64(ms).as_nanos(),
        })
    }

    /// Exponential with the given mean; a mean of 0 is the constant 0.
    pub fn exponential_ms(mean_ms: f64) -> Result<Dist, ParamError> {
        check_non_negative("mean_ms", mean_ms)?;
        if mean_ms == 0.0 {
            return Ok(Dist::Constant { ns: 0 });
        }
        let sampler = Exp::new(1.0 / (mean_ms * NS_PER_MS)).map_err(|e| e.to_string())?;
        Ok(Dist::Exponential { mean_ms, sampler })
    }

    /// Uniform on `[min_ms, max_ms]`.
    pub fn uniform_ms(min_ms: f64, max_ms: f64) -> Result<Dist, ParamError> {
        check_non_negative("min_ms", min_ms)?;
        check_non_negative("max_ms", max_ms)?;
        if max_ms < min_ms {
            return Err(format!(
                "max_ms ({max_ms}) must not be less than min_ms ({min_ms})"
            ));
        }
        Ok(Dist::Uniform { min_ms, max_ms })
    }

    /// Normal truncated at zero. The mean must be positive so that at least half the draws are kept.
    pub fn normal_ms(mean_ms: f64, sd_ms: f64) -> Result<Dist, ParamError> {
        check_positive("mean_ms", mean_ms)?;
        check_non_negative("sd_ms", sd_ms)?;
        let sampler =
            Normal::new(mean_ms * NS_PER_MS, sd_ms * NS_PER_MS).map_err(|e| e.to_string())?;
        Ok(Dist::Normal {
            mean_ms,
            sd_ms,
            sampler,
        })
    }

    /// Log-normal with the given mean and coefficient of variation.
    pub fn lognormal_ms(mean_ms: f64, cv: f64) -> Result<Dist, ParamError> {
        check_positive("mean_ms", mean_ms)?;
        check_non_negative("cv", cv)?;
        let sigma2 = (1.0 + cv * cv).ln();
        let mu = (mean_ms * NS_PER_MS).ln() - sigma2 / 2.0;
        let sampler = LogNormal::new(mu, sigma2.sqrt()).map_err(|e| e.to_string())?;
        Ok(Dist::LogNormal {
            mean_ms,
            cv,
            sampler,
        })
    }

    /// Gamma with the given mean and coefficient of variation (shape 1/cv², so cv = 1 is exponential).
    pub fn gamma_ms(mean_ms: f64, cv: f64) -> Result<Dist, ParamError> {
        check_positive("mean_ms", mean_ms)?;
        check_positive("cv", cv)?;
        let shape = 1.0 / (cv * cv);
        let sampler = Gamma::new(shape, mean_ms * NS_PER_MS / shape).map_err(|e| e.to_string())?;
        Ok(Dist::Gamma {
            mean_ms,
            cv,
            sampler,
        })
    }

    /// Weibull with shape `k` and scale `λ`.
    pub fn weibull_ms(shape: f64, scale_ms: f64) -> Result<Dist, ParamError> {
        check_positive("shape", shape)?;
        check_positive("scale_ms", scale_ms)?;
        let sampler = Weibull::new(scale_ms * NS_PER_MS, shape).map_err(|e| e.to_string())?;
        Ok(Dist::Weibull {
            shape,
            scale_ms,
            sampler,
        })
    }

    /// Pareto with shape `α` and scale (the minimum value).
    pub fn pareto_ms(shape: f64, scale_ms: f64) -> Result<Dist, ParamError> {
        check_positive("shape", shape)?;
        check_positive("scale_ms", scale_ms)?;
        let sampler = Pareto::new(scale_ms * NS_PER_MS, shape).map_err(|e| e.to_string())?;
        Ok(Dist::Pareto {
            shape,
            scale_ms,
            sampler,
        })
    }

    /// Resampling of measured values in milliseconds.
    pub fn empirical_ms(samples_ms: &[f64]) -> Result<Dist, ParamError> {
        if samples_ms.is_empty() {
            return Err("an empirical distribution needs at least one sample".into());
        }
        let mut ns = Vec::with_capacity(samples_ms.len());
        for (i, &ms) in samples_ms.iter().enumerate() {
            check_non_negative(&format!("sample {}", i + 1), ms)?;
            ns.push(SimTime::from_millis_f64(ms).as_nanos());
        }
        Ok(Dist::Empirical {
            samples_ns: ns.into(),
        })
    }

    /// Whether the distribution is exponential (the memoryless case of product-form results).
    pub fn is_exponential(&self) -> bool {
        match self {
            Dist::Exponential { .. } => true,
            Dist::Gamma { cv, .. } => (*cv - 1.0).abs() < 1e-12,
            Dist::Weibull { shape, .. } => (*shape - 1.0).abs() < 1e-12,
            _ => false,
        }
    }

    /// Whether every sample is the same value.
    pub fn is_constant(&self) -> bool {
        matches!(self, Dist::Constant { .. })
    }

    /// Whether every sample is zero (no delay at all).
    pub fn is_zero(&self) -> bool {
        matches!(self, Dist::Constant { ns: 0 })
    }

    /// Draws one duration.
    ///
    /// Constants and exponentials (most link latencies and service times) are drawn inline at
    /// the call site; the other families go through one shared out-of-line function.
    #[inline(always)]
    pub fn sample(&self, rng: &mut SimRng) -> SimTime {
        match self {
            Dist::Constant { ns } => SimTime(*ns),
            Dist::Exponential { sampler, .. } => SimTime::from_nanos_f64(sampler.sample(rng)),
            _ => self.sample_other(rng),
        }
    }

    /// Draws from any family (the common two are repeated here only to keep the match whole).
    #[inline(never)]
    fn sample_other(&self, rng: &mut SimRng) -> SimTime {
        let ns = match self {
            Dist::Constant { ns } => return SimTime(*ns),
            Dist::Exponential { sampler, .. } => sampler.sample(rng),
            Dist::Uniform { min_ms, max_ms } => {
                if max_ms == min_ms {
                    min_ms * NS_PER_MS
                } else {
                    rng.random_range(*min_ms..=*max_ms) * NS_PER_MS
                }
            }
            Dist::Normal { sampler, .. } => loop {
                let x = sampler.sample(rng);
                if x >= 0.0 {
                    break x;
                }
            },
            Dist::LogNormal { sampler, .. } => sampler.sample(rng),
            Dist::Gamma { sampler, .. } => sampler.sample(rng),
            Dist::Weibull { sampler, .. } => sampler.sample(rng),
            Dist::Pareto { sampler, .. } => sampler.sample(rng),
            Dist::Empirical { samples_ns } => {
                return SimTime(samples_ns[rng.random_range(0..samples_ns.len())]);
            }
        };
        SimTime::from_nanos_f64(ns)
    }

    /// The mean in milliseconds (infinite for a Pareto with shape ≤ 1).
    pub fn mean_ms(&self) -> f64 {
        match self {
            Dist::Constant { ns } => *ns as f64 / NS_PER_MS,
            Dist::Exponential { mean_ms, .. }
            | Dist::LogNormal { mean_ms, .. }
            | Dist::Gamma { mean_ms, .. } => *mean_ms,
            Dist::Uniform { min_ms, max_ms } => (min_ms + max_ms) / 2.0,
            Dist::Normal { mean_ms, sd_ms, .. } => truncated_normal_moments(*mean_ms, *sd_ms).0,
            Dist::Weibull {
                shape, scale_ms, ..
            } => scale_ms * gamma_fn(1.0 + 1.0 / shape),
            Dist::Pareto {
                shape, scale_ms, ..
            } => {
                if *shape <= 1.0 {
                    f64::INFINITY
                } else {
                    shape * scale_ms / (shape - 1.0)
                }
            }
            Dist::Empirical { samples_ns } => {
                samples_ns.iter().map(|&x| x as f64).sum::<f64>()
                    / samples_ns.len() as f64
                    / NS_PER_MS
            }
        }
    }

    /// The coefficient of variation (standard deviation / mean); infinite where the variance is.
    pub fn cv(&self) -> f64 {
        let mean = self.mean_ms();
        if mean == 0.0 {
            return 0.0;
        }
        match self {
            Dist::Constant { .. } => 0.0,
            Dist::Exponential { .. } => 1.0,
            Dist::LogNormal { cv, .. } | Dist::Gamma { cv, .. } => *cv,
            Dist::Uniform { min_ms, max_ms } => (max_ms - min_ms) / 12f64.sqrt() / mean,
            Dist::Normal { mean_ms, sd_ms, .. } => {
                truncated_normal_moments(*mean_ms, *sd_ms).1.sqrt() / mean
            }
            Dist::Weibull {
                shape, scale_ms, ..
            } => {
                let m2 = scale_ms * scale_ms * gamma_fn(1.0 + 2.0 / shape);
                (m2 - mean * mean).max(0.0).sqrt() / mean
            }
            Dist::Pareto { shape, .. } => {
                if *shape <= 2.0 {
                    f64::INFINITY
                } else {
                    1.0 / (shape * (shape - 2.0)).sqrt()
                }
            }
            Dist::Empirical { samples_ns } => {
                let n = samples_ns.len() as f64;
                let var = samples_ns
                    .iter()
                    .map(|&x| (x as f64 / NS_PER_MS - mean).powi(2))
                    .sum::<f64>()
                    / n;
                var.sqrt() / mean
            }
        }
    }

    /// A short human description, e.g. `exponential(mean 3 ms)`.
    pub fn describe(&self) -> String {
        match self {
            Dist::Constant { ns } => format!("{} ms", *ns as f64 / NS_PER_MS),
            Dist::Exponential { mean_ms, .. } => format!("exponential(mean {mean_ms} ms)"),
            Dist::Uniform { min_ms, max_ms } => format!("uniform({min_ms}..{max_ms} ms)"),
            Dist::Normal { mean_ms, sd_ms, .. } => {
                format!("normal(mean {mean_ms} ms, sd {sd_ms} ms, truncated at 0)")
            }
            Dist::LogNormal { mean_ms, cv, .. } => format!("lognormal(mean {mean_ms} ms, cv {cv})"),
            Dist::Gamma { mean_ms, cv, .. } => format!("gamma(mean {mean_ms} ms, cv {cv})"),
            Dist::Weibull {
                shape, scale_ms, ..
            } => {
                format!("weibull(shape {shape}, scale {scale_ms} ms)")
            }
            Dist::Pareto {
                shape, scale_ms, ..
            } => {
                format!("pareto(shape {shape}, scale {scale_ms} ms)")
            }
            Dist::Empirical { samples_ns } => format!(
                "empirical({} samples, mean {:.3} ms)",
                samples_ns.len(),
                self.mean_ms()
            ),
        }
    }
}

fn check_non_negative(name: &str, x: f64) -> Result<(), ParamError> {
    if !x.is_finite() || x < 0.0 {
        return Err(format!("{name} must be a finite number ≥ 0, got {x}"));
    }
    Ok(())
}

fn check_positive(name: &str, x: f64) -> Result<(), ParamError> {
    if !x.is_finite() || x <= 0.0 {
        return Err(format!("{name} must be a finite number > 0, got {x}"));
    }
    Ok(())
}

/// Mean and variance of a normal(μ, σ) truncated to [0, ∞).
fn truncated_normal_moments(mu: f64, sigma: f64) -> (f64, f64) {
    if sigma == 0.0 {
        return (mu, 0.0);
    }
    let alpha = -mu / sigma;
    let pdf = (-alpha * alpha / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let tail = 0.5 * erfc(alpha / std::f64::consts::SQRT_2); // P(Z > alpha)
    let lambda = pdf / tail;
    let mean = mu + sigma * lambda;
    let var = sigma * sigma * (1.0 + alpha * lambda - lambda * lambda);
    (mean, var)
}

/// Complementary error function (Numerical Recipes' erfcc, fractional error < 1.2e-7).
pub fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// The gamma function Γ(x) for x > 0 (Lanczos approximation, g = 7).
pub fn gamma_fn(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return std::f64::consts::PI / ((std::f64::consts::PI * x).sin() * gamma_fn(1.0 - x));
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    (2.0 * std::f64::consts::PI).sqrt() * t.powf(x + 0.5) * (-t).exp() * a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::seeded_rng;

    fn sample_moments(d: &Dist, n: usize) -> (f64, f64) {
        let mut rng = seeded_rng(42);
        let xs: Vec<f64> = (0..n).map(|_| d.sample(&mut rng).as_millis_f64()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n as f64 - 1.0);
        (mean, var.sqrt() / mean)
    }

    /// Each distribution's sample mean and cv agree with the closed forms used by the analysis.
    #[test]
    fn sample_moments_match_the_stated_mean_and_cv() {
        let cases = [
            Dist::exponential_ms(3.0).unwrap(),
            Dist::uniform_ms(1.0, 5.0).unwrap(),
            Dist::normal_ms(2.0, 1.5).unwrap(),
            Dist::lognormal_ms(4.0, 0.5).unwrap(),
            Dist::gamma_ms(4.0, 0.7).unwrap(),
            Dist::weibull_ms(1.5, 2.0).unwrap(),
            Dist::pareto_ms(4.5, 1.0).unwrap(),
            Dist::empirical_ms(&[1.0, 2.0, 6.0]).unwrap(),
        ];
        for d in &cases {
            let (mean, cv) = sample_moments(d, 400_000);
            let rel = (mean - d.mean_ms()).abs() / d.mean_ms();
            assert!(
                rel < 0.01,
                "{}: sample mean {mean} vs {}",
                d.describe(),
                d.mean_ms()
            );
            let rel_cv = (cv - d.cv()).abs() / d.cv();
            assert!(
                rel_cv < 0.03,
                "{}: sample cv {cv} vs {}",
                d.describe(),
                d.cv()
            );
        }
    }

    #[test]
    fn gamma_function_matches_known_values() {
        assert!((gamma_fn(5.0) - 24.0).abs() < 1e-9);
        assert!((gamma_fn(0.5) - std::f64::consts::PI.sqrt()).abs() < 1e-9);
    }

    #[test]
    fn bad_parameters_are_refused_with_the_field_name() {
        assert!(Dist::exponential_ms(-1.0).unwrap_err().contains("mean_ms"));
        assert!(Dist::uniform_ms(5.0, 1.0).unwrap_err().contains("max_ms"));
        assert!(
            Dist::lognormal_ms(f64::NAN, 1.0)
                .unwrap_err()
                .contains("mean_ms")
        );
        assert!(Dist::empirical_ms(&[]).is_err());
    }
}
