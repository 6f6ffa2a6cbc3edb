//! Confidence intervals for means of independent replications (Student's t).

/// A mean with the half-width of its 95% confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanCi {
    pub mean: f64,
    /// Half-width of the two-sided 95% interval; NaN with fewer than two values.
    pub half_width: f64,
    pub n: usize,
}

impl MeanCi {
    /// Whether `x` lies inside the interval.
    pub fn contains(&self, x: f64) -> bool {
        (x - self.mean).abs() <= self.half_width
    }
}

/// The two-sided 95% quantile t(0.975, df) of Student's t distribution.
pub fn student_t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        // Cornish–Fisher expansion around the normal quantile; error < 1e-3 for df > 30.
        _ => {
            let z: f64 = 1.959_964;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d)
                + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// Mean and 95% confidence half-width of independent observations (NaN values are skipped).
pub fn mean_ci95(values: &[f64]) -> MeanCi {
    let xs: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    let n = xs.len();
    if n == 0 {
        return MeanCi {
            mean: f64::NAN,
            half_width: f64::NAN,
            n,
        };
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return MeanCi {
            mean,
            half_width: f64::NAN,
            n,
        };
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    MeanCi {
        mean,
        half_width: student_t_975(n - 1) * (var / n as f64).sqrt(),
        n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_hand_computed_interval() {
        // mean 5, sample sd sqrt(2.5), t(0.975, 4) = 2.776: half-width 2.776 * sqrt(2.5/5).
        let ci = mean_ci95(&[3.0, 4.0, 5.0, 6.0, 7.0]);
        assert_eq!(ci.mean, 5.0);
        assert!((ci.half_width - 2.776 * 0.5f64.sqrt()).abs() < 1e-12);
        assert!(ci.contains(6.9) && !ci.contains(7.0));
    }

    #[test]
    fn large_df_quantiles_approach_the_normal() {
        assert!((student_t_975(40) - 2.021).abs() < 2e-3);
        assert!((student_t_975(120) - 1.980).abs() < 2e-3);
    }
}
