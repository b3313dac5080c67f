//! The in-process measurement harness: warm-up, calibrated batches, many
//! samples, and round-robin interleaving of the variants being compared.
//!
//! Each *sample* times one batch of iterations with [`Instant`] and divides by
//! the batch size, so the timer's own cost (tens of ns) is spread over a batch
//! that lasts about [`HarnessConfig::sample_target`]. Variants compared with
//! each other are sampled in turns (A, B, C, then B, C, A, ...), so frequency
//! scaling, other processes and thermal drift hit all of them alike, and their
//! ratios are computed from the same run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::stats::Summary;

/// How long and how often to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HarnessConfig {
    /// Time spent running each variant before any sample is kept.
    pub warmup: Duration,
    /// Samples kept per variant.
    pub samples: usize,
    /// The wall time one sample's batch should last.
    pub sample_target: Duration,
}

impl HarnessConfig {
    /// The full run: enough samples for stable p5/p95.
    pub const FULL: HarnessConfig =
        HarnessConfig { warmup: Duration::from_millis(300), samples: 1000, sample_target: Duration::from_millis(2) };
    /// The quick run (CI smoke test): same method, fewer and shorter samples.
    pub const QUICK: HarnessConfig =
        HarnessConfig { warmup: Duration::from_millis(100), samples: 100, sample_target: Duration::from_millis(1) };
    /// A tiny configuration for tests: the numbers mean little, the plumbing runs.
    pub const TINY: HarnessConfig =
        HarnessConfig { warmup: Duration::from_micros(200), samples: 5, sample_target: Duration::from_micros(50) };

    /// Samples for one-shot measurements (setup), scaled from [`samples`](Self::samples).
    pub fn one_shot_samples(&self) -> usize {
        self.samples.max(5)
    }
}

/// One variant of a comparison: a name and a closure that runs `n` iterations.
pub struct Variant<'a> {
    name: String,
    run: Box<dyn FnMut(u64) + 'a>,
}

impl<'a> Variant<'a> {
    /// A variant whose iteration is `f`; its result goes through [`black_box`].
    ///
    /// The batch loop is generic over `f`, so `f` is inlined into it and the
    /// harness adds no indirect call per iteration.
    pub fn new<R, F: FnMut() -> R + 'a>(name: impl Into<String>, mut f: F) -> Self {
        Variant {
            name: name.into(),
            run: Box::new(move |n| {
                for _ in 0..n {
                    black_box(f());
                }
            }),
        }
    }

    /// The variant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn time(&mut self, iterations: u64) -> Duration {
        let start = Instant::now();
        (self.run)(iterations);
        start.elapsed()
    }
}

impl std::fmt::Debug for Variant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Variant").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Runs comparisons with one [`HarnessConfig`].
#[derive(Clone, Copy, Debug)]
pub struct Harness {
    config: HarnessConfig,
}

impl Harness {
    /// A harness with `config`.
    pub fn new(config: HarnessConfig) -> Self {
        Harness { config }
    }

    /// The configuration.
    pub fn config(&self) -> HarnessConfig {
        self.config
    }

    /// Measures every variant, interleaved, and returns ns per iteration for
    /// each (in the order given). Batch sizes are calibrated per variant.
    pub fn compare(&self, variants: &mut [Variant<'_>]) -> Vec<Summary> {
        self.compare_observed(variants, None, &mut |_, _| {})
    }

    /// Measures every variant, interleaved, with a fixed batch of `iterations`
    /// per sample (e.g. "100 executions"), returning ns per iteration.
    pub fn compare_fixed(&self, variants: &mut [Variant<'_>], iterations: u64) -> Vec<Summary> {
        self.compare_observed(variants, Some(iterations), &mut |_, _| {})
    }

    /// [`compare`](Self::compare) (`fixed: None`) or
    /// [`compare_fixed`](Self::compare_fixed), calling `observe(done, total)`
    /// after every round of samples (for progress reports).
    pub fn compare_observed(
        &self,
        variants: &mut [Variant<'_>],
        fixed: Option<u64>,
        observe: &mut dyn FnMut(usize, usize),
    ) -> Vec<Summary> {
        self.warm_up(variants);
        let batches: Vec<u64> = match fixed {
            Some(n) => vec![n.max(1); variants.len()],
            None => variants.iter_mut().map(|v| self.calibrate(v)).collect(),
        };
        self.sample(variants, &batches, observe)
    }

    /// Measures one variant (see [`compare`](Self::compare)).
    pub fn measure(&self, variant: Variant<'_>) -> Summary {
        self.compare(&mut [variant]).remove(0)
    }

    fn warm_up(&self, variants: &mut [Variant<'_>]) {
        let start = Instant::now();
        let mut batch = 1u64;
        loop {
            for v in variants.iter_mut() {
                v.time(batch);
            }
            if start.elapsed() >= self.config.warmup.saturating_mul(variants.len() as u32) {
                break;
            }
            batch = (batch * 2).min(1 << 16);
        }
    }

    /// Doubles the batch until it lasts a tenth of the target, then scales up.
    fn calibrate(&self, variant: &mut Variant<'_>) -> u64 {
        let target = self.config.sample_target.as_secs_f64();
        let mut batch = 1u64;
        loop {
            let took = variant.time(batch).as_secs_f64();
            if took >= target / 10.0 || batch >= 1 << 40 {
                let per_iter = took / batch as f64;
                return ((target / per_iter.max(1e-12)).ceil() as u64).max(1);
            }
            batch *= 2;
        }
    }

    fn sample(
        &self,
        variants: &mut [Variant<'_>],
        batches: &[u64],
        observe: &mut dyn FnMut(usize, usize),
    ) -> Vec<Summary> {
        let n = variants.len();
        let mut samples = vec![Vec::with_capacity(self.config.samples); n];
        for round in 0..self.config.samples {
            for k in 0..n {
                let i = (round + k) % n;
                let took = variants[i].time(batches[i]);
                samples[i].push(took.as_nanos() as f64 / batches[i] as f64);
            }
            observe(round + 1, self.config.samples);
        }
        samples.iter().map(|s| Summary::of(s).unwrap_or(ZERO)).collect()
    }

    /// Times `f` once per sample (for one-shot costs such as setup, where each
    /// sample needs fresh state), returning ns per call; `f` may fail.
    pub fn one_shot<T, E>(&self, mut f: impl FnMut() -> Result<T, E>) -> Result<Summary, E> {
        for _ in 0..3 {
            black_box(f()?);
        }
        let mut samples = Vec::with_capacity(self.config.one_shot_samples());
        for _ in 0..self.config.one_shot_samples() {
            let start = Instant::now();
            let out = f()?;
            samples.push(start.elapsed().as_nanos() as f64);
            drop(black_box(out));
        }
        Ok(Summary::of(&samples).unwrap_or(ZERO))
    }
}

const ZERO: Summary = Summary { median: 0.0, p5: 0.0, p95: 0.0, min: 0.0, max: 0.0, mean: 0.0, samples: 0 };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_returns_one_summary_per_variant_in_order() {
        let h = Harness::new(HarnessConfig::TINY);
        let mut cheap_calls = 0u64;
        let mut dear_calls = 0u64;
        let mut variants = [
            Variant::new("cheap", || {
                cheap_calls += 1;
            }),
            Variant::new("dear", || {
                dear_calls += 1;
                (0..200u64).map(black_box).sum::<u64>()
            }),
        ];
        assert_eq!(variants[1].name(), "dear");
        let out = h.compare(&mut variants);
        drop(variants);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|s| s.samples == HarnessConfig::TINY.samples && s.median > 0.0));
        assert!(cheap_calls > 0 && dear_calls > 0);
    }

    #[test]
    fn fixed_batches_run_exactly_that_many_iterations_per_sample() {
        let h = Harness::new(HarnessConfig { warmup: Duration::ZERO, samples: 4, sample_target: Duration::ZERO });
        let mut calls = 0u64;
        let out = h.compare_fixed(&mut [Variant::new("count", || calls += 1)], 100);
        // warm-up runs one batch of 1, then 4 samples of 100
        assert_eq!(calls, 1 + 4 * 100);
        assert_eq!(out[0].samples, 4);
        let mut seen = Vec::new();
        h.compare_observed(&mut [Variant::new("x", || 1)], Some(2), &mut |done, total| seen.push((done, total)));
        assert_eq!(seen, [(1, 4), (2, 4), (3, 4), (4, 4)]);
    }

    #[test]
    fn one_shot_propagates_errors_and_counts_samples() {
        let h = Harness::new(HarnessConfig::TINY);
        let ok = h.one_shot(|| Ok::<_, ()>(vec![1u8; 16])).expect("runs");
        assert_eq!(ok.samples, HarnessConfig::TINY.one_shot_samples());
        let mut n = 0;
        let err = h.one_shot(|| {
            n += 1;
            if n > 4 { Err("stop") } else { Ok(()) }
        });
        assert_eq!(err, Err("stop"));
    }
}
