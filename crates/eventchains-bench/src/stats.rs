//! Robust statistics over timing samples: median, percentiles, and the cost
//! model (break-even and amortized cost) the report is built from.

use serde::{Deserialize, Serialize};

/// The spread of one measured quantity (in the unit of its samples).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The median (p50).
    pub median: f64,
    /// The 5th percentile.
    pub p5: f64,
    /// The 95th percentile.
    pub p95: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// The arithmetic mean (sensitive to rare slow samples, which the median ignores).
    pub mean: f64,
    /// How many samples the summary is made of.
    pub samples: usize,
}

impl Summary {
    /// Summarizes `samples` (any order); `None` when there are none or one is not finite.
    ///
    /// ```
    /// use eventchains_bench::stats::Summary;
    /// let s = Summary::of(&[5.0, 1.0, 3.0]).unwrap();
    /// assert_eq!((s.median, s.min, s.max, s.samples), (3.0, 1.0, 5.0, 3));
    /// assert!(Summary::of(&[]).is_none());
    /// ```
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() || samples.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            median: percentile_sorted(&sorted, 50.0),
            p5: percentile_sorted(&sorted, 5.0),
            p95: percentile_sorted(&sorted, 95.0),
            min: sorted[0],
            max: sorted[sorted.len() - 1],
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            samples: sorted.len(),
        })
    }

    /// The same summary with every figure multiplied by `factor` (unit changes).
    #[must_use]
    pub fn scaled(self, factor: f64) -> Summary {
        Summary {
            median: self.median * factor,
            p5: self.p5 * factor,
            p95: self.p95 * factor,
            min: self.min * factor,
            max: self.max * factor,
            mean: self.mean * factor,
            samples: self.samples,
        }
    }
}

/// The `p`-th percentile (0..=100) of ascending `sorted` samples, linearly
/// interpolated between the two closest ranks (the "R-7" definition used by
/// NumPy and most spreadsheets). Returns NaN for an empty slice.
///
/// ```
/// use eventchains_bench::stats::percentile_sorted;
/// assert_eq!(percentile_sorted(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
/// assert_eq!(percentile_sorted(&[10.0], 95.0), 10.0);
/// ```
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let rank = (p.clamp(0.0, 100.0) / 100.0) * (n - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = rank.ceil() as usize;
            let frac = rank - lo as f64;
            sorted[lo] + (sorted[hi] - sorted[lo]) * frac
        }
    }
}

/// The number of executions after which the cumulative execution time equals
/// the one-time setup: `setup_ns / per_execution_ns`, the experiment's
/// definition (492.1 µs of setup / 3.00 µs per execution = 164). Past it, setup
/// is less than half of the amortized cost. `None` when per-execution is not positive.
///
/// ```
/// use eventchains_bench::stats::break_even_executions;
/// assert_eq!(break_even_executions(492_100.0, 3_000.0).map(f64::round), Some(164.0));
/// ```
pub fn break_even_executions(setup_ns: f64, per_execution_ns: f64) -> Option<f64> {
    (per_execution_ns > 0.0 && setup_ns >= 0.0).then(|| setup_ns / per_execution_ns)
}

/// What one chain costs to stand up and run: the inputs of the amortized-cost model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostModel {
    /// One-time cost before the first execution (VM, parse, build), in ns.
    pub setup_ns: f64,
    /// The first execution, in ns (often slower: cold caches, lazy allocation).
    pub first_execution_ns: f64,
    /// A steady-state execution, in ns.
    pub per_execution_ns: f64,
}

impl CostModel {
    /// Amortized cost per execution over `executions` runs, in ns:
    /// `(setup + first + (n - 1) * per_execution) / n`. `n = 0` is treated as 1.
    ///
    /// ```
    /// use eventchains_bench::stats::CostModel;
    /// let m = CostModel { setup_ns: 1000.0, first_execution_ns: 20.0, per_execution_ns: 10.0 };
    /// assert_eq!(m.amortized_ns(1), 1020.0);
    /// assert_eq!(m.amortized_ns(100), (1000.0 + 20.0 + 99.0 * 10.0) / 100.0);
    /// ```
    pub fn amortized_ns(&self, executions: u64) -> f64 {
        let n = executions.max(1) as f64;
        (self.setup_ns + self.first_execution_ns + (n - 1.0) * self.per_execution_ns) / n
    }

    /// Executions after which `self` (with its higher setup) becomes cheaper in
    /// total than `other`; `None` if it never does (its per-execution cost is not lower).
    pub fn crossover_with(&self, other: &CostModel) -> Option<f64> {
        let saving = other.per_execution_ns - self.per_execution_ns;
        let extra = (self.setup_ns + self.first_execution_ns) - (other.setup_ns + other.first_execution_ns);
        (saving > 0.0).then(|| (extra / saving).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_and_clamp() {
        let s: Vec<f64> = (1..=101).map(f64::from).collect();
        assert_eq!(percentile_sorted(&s, 50.0), 51.0);
        assert_eq!(percentile_sorted(&s, 5.0), 6.0);
        assert_eq!(percentile_sorted(&s, 95.0), 96.0);
        assert_eq!(percentile_sorted(&s, -3.0), 1.0);
        assert_eq!(percentile_sorted(&s, 300.0), 101.0);
        assert!((percentile_sorted(&[0.0, 10.0], 25.0) - 2.5).abs() < 1e-12);
        assert!(percentile_sorted(&[], 50.0).is_nan());
    }

    #[test]
    fn summary_is_order_independent_and_rejects_bad_samples() {
        let a = Summary::of(&[4.0, 1.0, 3.0, 2.0]).expect("summary");
        let b = Summary::of(&[1.0, 2.0, 3.0, 4.0]).expect("summary");
        assert_eq!(a, b);
        assert_eq!(a.median, 2.5);
        assert_eq!(a.mean, 2.5);
        assert_eq!((a.min, a.max, a.samples), (1.0, 4.0, 4));
        assert!(a.p5 >= a.min && a.p5 <= a.median && a.p95 <= a.max && a.p95 >= a.median);
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
        assert_eq!(a.scaled(1e-3).median, 2.5e-3);
    }

    #[test]
    fn median_resists_outliers() {
        let mut s = vec![100.0; 99];
        s.push(1e9);
        let summary = Summary::of(&s).expect("summary");
        assert_eq!(summary.median, 100.0);
        assert!(summary.mean > 1e7, "the mean shows the outlier");
    }

    #[test]
    fn break_even_matches_the_experiment() {
        assert_eq!(break_even_executions(492_100.0, 3_000.0).map(f64::round), Some(164.0));
        assert_eq!(break_even_executions(100.0, 0.0), None);
        assert_eq!(break_even_executions(0.0, 5.0), Some(0.0));
    }

    #[test]
    fn amortized_cost_tends_to_per_execution_and_crossover() {
        let lua = CostModel { setup_ns: 100_000.0, first_execution_ns: 5_000.0, per_execution_ns: 1_000.0 };
        let rust = CostModel { setup_ns: 500.0, first_execution_ns: 300.0, per_execution_ns: 200.0 };
        assert!(lua.amortized_ns(10) > lua.amortized_ns(1000));
        assert!((lua.amortized_ns(10_000_000) - 1_000.0).abs() < 1.0);
        assert_eq!(lua.amortized_ns(0), lua.amortized_ns(1));
        // Lua is slower per execution: it never catches up with Rust.
        assert_eq!(lua.crossover_with(&rust), None);
        // Rust is cheaper from the start.
        assert_eq!(rust.crossover_with(&lua), Some(0.0));
        let slow_start = CostModel { setup_ns: 10_000.0, first_execution_ns: 0.0, per_execution_ns: 100.0 };
        let fast_start = CostModel { setup_ns: 0.0, first_execution_ns: 0.0, per_execution_ns: 200.0 };
        assert_eq!(slow_start.crossover_with(&fast_start), Some(100.0));
    }
}
