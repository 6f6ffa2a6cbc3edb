//! Closed-form queueing results used by the analysis (and by the validation suite's theory).

/// Erlang C: the probability that an arrival to an M/M/c queue with offered load `a = λ/μ`
/// must wait. Requires `a < c`.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    // Erlang B by its stable recursion, then C from B.
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let rho = a / f64::from(c);
    b / (1.0 - rho + rho * b)
}

/// Mean wait in queue of an M/M/c queue with arrival rate `lambda` and mean service `s`.
pub fn mmc_wait(c: u32, lambda: f64, s: f64) -> f64 {
    let a = lambda * s;
    let c_f = f64::from(c);
    erlang_c(c, a) * s / (c_f - a)
}

/// Mean wait in an M/G/c queue by the Allen–Cunneen approximation with Poisson arrivals:
/// the M/M/c wait scaled by (1 + cv²)/2. Exact for c = 1 (Pollaczek–Khinchine) and for cv = 1.
pub fn mgc_wait(c: u32, lambda: f64, s: f64, cv2: f64) -> f64 {
    mmc_wait(c, lambda, s) * (1.0 + cv2) / 2.0
}

/// Probability that an M/M/c queue holds at least `c + k` calls (an arrival finds `k` waiting).
pub fn mmc_prob_queue_at_least(c: u32, a: f64, k: u32) -> f64 {
    let rho = a / f64::from(c);
    erlang_c(c, a) * rho.powi(k as i32)
}

/// Mean and second moment of a mixture: `parts` are (weight, mean, cv²), weights summing to 1.
pub fn mixture(parts: &[(f64, f64, f64)]) -> (f64, f64) {
    let mean = parts.iter().map(|(w, m, _)| w * m).sum();
    let second = parts
        .iter()
        .map(|(w, m, cv2)| w * m * m * (1.0 + cv2))
        .sum();
    (mean, second)
}

/// E[max] of independent branches, each a constant `shift` plus an exponential with mean `mean`.
/// Exact for that model (computed by numerical integration of 1 − Π Fᵢ).
pub fn expected_max_shifted_exponentials(branches: &[(f64, f64)]) -> f64 {
    match branches {
        [] => 0.0,
        [(shift, mean)] => shift + mean,
        _ => {
            // E[max] = lo + ∫_lo^hi (1 − F(t)) dt, F the product of the branches' CDFs.
            let (lo, hi) = max_bounds(branches);
            lo + simpson_grid(lo, hi, |grid, values| {
                product_of_cdfs(grid, branches, values)
            })
        }
    }
}

/// Where the maximum of shifted exponentials is integrated: from the earliest shift to 40
/// means past the latest (where the survival is e^−40).
fn max_bounds(branches: &[(f64, f64)]) -> (f64, f64) {
    let lo = branches.iter().map(|b| b.0).fold(f64::INFINITY, f64::min);
    let hi = branches
        .iter()
        .map(|b| b.0 + 40.0 * b.1)
        .fold(0.0, f64::max);
    (lo, hi)
}

/// Fills `values` with 1 − Π Fᵢ along the grid, Fᵢ(t) = 1 − e^(−(t − shiftᵢ)/meanᵢ) from
/// `shiftᵢ` on (0 before it).
///
/// Each branch's survival e^(−(t − shift)/mean) is one multiply per point (the grid is even, so
/// it is geometric): an `exp` per point and branch made `analyze` of a 10,000-service model take
/// seconds. Each survival is a chain of multiplies, each waiting for the one before; four
/// branches are stepped together so that their chains overlap (a stage of two branches costs
/// the time of one). The product takes the branches' factors in their order at every point,
/// and each survival is the same sequence of multiplies, so the values are the ones a branch at
/// a time gives, to the bit.
fn product_of_cdfs(grid: &Grid, branches: &[(f64, f64)], values: &mut [f64]) {
    // Each branch's first point at or past its shift; below the latest of them some factor is
    // 0, and so is the product.
    let firsts: Vec<Option<usize>> = branches
        .iter()
        .map(|&(shift, _)| (0..grid.points).find(|&i| grid.at(i) >= shift))
        .collect();
    let start = firsts
        .iter()
        .map(|f| f.unwrap_or(grid.points))
        .max()
        .unwrap_or(0);
    // Each exponential branch's survival at `start`, stepped there from its own first point.
    let mut chains: Vec<(f64, f64)> = Vec::with_capacity(branches.len());
    for (&(shift, mean), first) in branches.iter().zip(firsts) {
        let Some(first) = first.filter(|_| mean > 0.0 && start < grid.points) else {
            continue;
        };
        let ratio = (-grid.step / mean).exp();
        let mut survival = (-(grid.at(first) - shift) / mean).exp();
        for _ in first..start {
            survival *= ratio;
        }
        chains.push((survival, ratio));
    }
    let mut cdf = vec![0.0; grid.points];
    cdf[start..].fill(1.0);
    for group in chains.chunks(4) {
        match group {
            [a] => step_chains([*a], &mut cdf[start..]),
            [a, b] => step_chains([*a, *b], &mut cdf[start..]),
            [a, b, c] => step_chains([*a, *b, *c], &mut cdf[start..]),
            [a, b, c, d] => step_chains([*a, *b, *c, *d], &mut cdf[start..]),
            _ => unreachable!("chunks of one to four"),
        }
    }
    for (v, c) in values.iter_mut().zip(&cdf) {
        *v = 1.0 - c;
    }
}

/// Multiplies each point of `cdf` by 1 − survival of each chain in turn, stepping every
/// chain's survival by its ratio: `N` chains held in registers, overlapping.
#[inline(always)]
fn step_chains<const N: usize>(chains: [(f64, f64); N], cdf: &mut [f64]) {
    let mut survival = chains.map(|c| c.0);
    let ratio = chains.map(|c| c.1);
    for c in cdf {
        for k in 0..N {
            *c *= 1.0 - survival[k];
            survival[k] *= ratio[k];
        }
    }
}

/// One branch of a stage whose calls may be skipped or repeated: made with `probability`, then
/// `count` copies in parallel, each a constant `shift` plus an exponential with mean `mean`.
pub struct RandomBranch<'a> {
    pub shift: f64,
    pub mean: f64,
    pub probability: f64,
    pub count: &'a crate::model::CallCount,
}

/// E[time until every call of the stage has returned] (0 when none is made), exact for the
/// branch model: ∫₀^∞ (1 − Π Fᵢ(t)) dt with Fᵢ(t) = 1 − pᵢ + pᵢ·E[G(t)^Nᵢ], G the CDF of one
/// copy and Nᵢ its count, by Simpson's rule.
pub fn expected_stage_time(branches: &[RandomBranch]) -> f64 {
    use crate::model::CallCount;
    let hi = branches
        .iter()
        .map(|b| b.shift + 40.0 * b.mean * (1.0 + f64::from(b.count.max()).ln()))
        .fold(0.0, f64::max);
    if hi <= 0.0 {
        return 0.0;
    }
    let copy = |t: f64, b: &RandomBranch| -> f64 {
        if t < b.shift {
            0.0
        } else if b.mean <= 0.0 {
            1.0
        } else {
            1.0 - (-(t - b.shift) / b.mean).exp()
        }
    };
    let all_copies = |g: f64, count: &CallCount| -> f64 {
        match count {
            CallCount::Uniform { min, max } if g < 1.0 => {
                // Σ_{n=min}^{max} gⁿ / k, a geometric sum.
                let k = f64::from(max - min + 1);
                g.powi(*min as i32) * (1.0 - g.powf(k)) / (1.0 - g) / k
            }
            CallCount::Uniform { .. } => 1.0,
            _ => count.expectation(|n| g.powi(n as i32)),
        }
    };
    let cdf = |t: f64| -> f64 {
        branches
            .iter()
            .map(|b| 1.0 - b.probability + b.probability * all_copies(copy(t, b), b.count))
            .product()
    };
    simpson(|t| 1.0 - cdf(t), 0.0, hi)
}

/// ∫_lo^hi f(t) dt by Simpson's rule over 20,000 intervals.
/// Intervals of Simpson's rule.
const SIMPSON_INTERVALS: usize = 20_000;

fn simpson(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    simpson_grid(lo, hi, |grid, values| {
        for (i, v) in values.iter_mut().enumerate() {
            *v = f(grid.at(i));
        }
    })
}

/// The even grid Simpson's rule evaluates an integrand on.
struct Grid {
    lo: f64,
    step: f64,
    points: usize,
}

impl Grid {
    /// The `i`th point.
    fn at(&self, i: usize) -> f64 {
        self.lo + i as f64 * self.step
    }
}

/// Simpson's rule over [lo, hi] with an integrand that fills in its values on the whole grid at
/// once (so it can compute them incrementally).
fn simpson_grid(lo: f64, hi: f64, fill: impl FnOnce(&Grid, &mut [f64])) -> f64 {
    let n = SIMPSON_INTERVALS;
    let grid = Grid {
        lo,
        step: (hi - lo) / n as f64,
        points: n + 1,
    };
    let mut values = vec![0.0; grid.points];
    fill(&grid, &mut values);
    let mut sum = 0.0;
    for (i, v) in values.iter().enumerate() {
        let w = if i == 0 || i == n {
            1.0
        } else if i % 2 == 1 {
            4.0
        } else {
            2.0
        };
        sum += w * v;
    }
    sum * grid.step / 3.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expected_max_shifted_exponentials` one branch at a time, as it was written first.
    fn max_one_branch_at_a_time(branches: &[(f64, f64)]) -> f64 {
        let (lo, hi) = max_bounds(branches);
        lo + simpson_grid(lo, hi, |grid, values| {
            let h = grid.step;
            let mut cdf = vec![1.0; grid.points];
            for &(shift, mean) in branches {
                let first = (0..grid.points).find(|&i| grid.at(i) >= shift);
                for c in cdf.iter_mut().take(first.unwrap_or(grid.points)) {
                    *c = 0.0;
                }
                let Some(first) = first else { continue };
                if mean <= 0.0 {
                    continue;
                }
                let ratio = (-h / mean).exp();
                let mut survival = (-(grid.at(first) - shift) / mean).exp();
                for c in &mut cdf[first..] {
                    *c *= 1.0 - survival;
                    survival *= ratio;
                }
            }
            for (v, c) in values.iter_mut().zip(&cdf) {
                *v = 1.0 - c;
            }
        })
    }

    #[test]
    fn branches_stepped_together_give_the_same_bits() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        for n in 2..=11 {
            for _ in 0..20 {
                let branches: Vec<(f64, f64)> = (0..n)
                    .map(|_| {
                        let shift = if rng.random_bool(0.3) {
                            0.0
                        } else {
                            rng.random_range(0.0..20.0)
                        };
                        let mean = if rng.random_bool(0.15) {
                            0.0
                        } else {
                            rng.random_range(0.01..10.0)
                        };
                        (shift, mean)
                    })
                    .collect();
                let (new, old) = (
                    expected_max_shifted_exponentials(&branches),
                    max_one_branch_at_a_time(&branches),
                );
                assert_eq!(new.to_bits(), old.to_bits(), "{branches:?}: {new} vs {old}");
            }
        }
    }

    #[test]
    fn erlang_c_matches_known_values() {
        // M/M/1: P(wait) = ρ.
        assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
        // M/M/2 with a = 0.6: 0.138461…
        assert!((erlang_c(2, 0.6) - 0.138_461_538).abs() < 1e-8);
        // M/M/1 wait: ρ/(μ − λ).
        assert!((mmc_wait(1, 500.0, 0.001) - 0.5 / 500.0).abs() < 1e-12);
    }

    #[test]
    fn max_of_two_equal_exponentials_is_one_and_a_half_means() {
        let m = expected_max_shifted_exponentials(&[(0.0, 4.0), (0.0, 4.0)]);
        assert!((m - 6.0).abs() < 1e-6, "{m}");
        let shifted = expected_max_shifted_exponentials(&[(1.0, 4.0), (1.0, 4.0)]);
        assert!((shifted - 7.0).abs() < 1e-6, "{shifted}");
        // 1/μ1 + 1/μ2 − 1/(μ1+μ2) for means 1 and 2: 1 + 2 − 2/3.
        let mixed = expected_max_shifted_exponentials(&[(0.0, 1.0), (0.0, 2.0)]);
        assert!((mixed - (3.0 - 2.0 / 3.0)).abs() < 1e-6, "{mixed}");
    }

    #[test]
    fn stages_of_calls_made_sometimes_or_repeatedly_mix_their_maxima() {
        use crate::model::CallCount;
        let stage = |probability: f64, count: &CallCount| {
            expected_stage_time(&[RandomBranch {
                shift: 0.0,
                mean: 2.0,
                probability,
                count,
            }])
        };
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        close(stage(0.5, &CallCount::Fixed(1)), 1.0);
        close(stage(1.0, &CallCount::Fixed(2)), 3.0);
        close(stage(1.0, &CallCount::Uniform { min: 1, max: 2 }), 2.5);
        let table = CallCount::Table {
            values: vec![1, 3],
            weights: vec![1.0, 1.0],
            cumulative: vec![0.5, 1.0],
        };
        close(stage(0.4, &table), 0.4 * (2.0 + 2.0 * 11.0 / 6.0) / 2.0);
        // With a shift: made half the time, 1 ms + exponential(2 ms).
        let shifted = expected_stage_time(&[RandomBranch {
            shift: 1.0,
            mean: 2.0,
            probability: 0.5,
            count: &CallCount::Fixed(1),
        }]);
        close(shifted, 1.5);
    }
}
