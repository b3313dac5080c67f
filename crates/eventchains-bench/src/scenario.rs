//! [`Scenario`]: one named measurement, and the [`Session`] it records into.
//! The list of every scenario is [`crate::scenarios::all`].

use std::time::Instant;

use crate::error::BenchError;
use crate::harness::{Harness, HarnessConfig};
use crate::results::Results;
use crate::stats::Summary;

/// A scenario's entry point.
pub type Runner = fn(&mut Session<'_>) -> Result<(), BenchError>;

/// A named measurement: a small function that records figures into a [`Session`].
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// The name `--filter` selects it by.
    pub name: &'static str,
    /// One line on what it measures.
    pub about: &'static str,
    /// Runs it.
    pub run: Runner,
    /// Part of the default run (`false`: only run when selected by name).
    pub default: bool,
}

/// What a scenario gets: the harness, the results to record into, and a
/// progress sink (the binary prints it on stderr; tests ignore it).
pub struct Session<'a> {
    harness: Harness,
    quick: bool,
    /// The figures recorded so far.
    pub results: Results,
    progress: &'a mut dyn FnMut(&str),
    scenario: &'static str,
    started: Instant,
}

impl<'a> Session<'a> {
    /// A session measuring with `config`; `quick` selects shorter variants of
    /// the slow scenarios (threads, large scaling points).
    pub fn new(config: HarnessConfig, quick: bool, progress: &'a mut dyn FnMut(&str)) -> Self {
        Session {
            harness: Harness::new(config),
            quick,
            results: Results::default(),
            progress,
            scenario: "",
            started: Instant::now(),
        }
    }

    /// The harness.
    pub fn harness(&self) -> Harness {
        self.harness
    }

    /// `true` for the quick run.
    pub fn quick(&self) -> bool {
        self.quick
    }

    /// Reports progress (prefixed with the scenario name and elapsed time).
    pub fn step(&mut self, message: &str) {
        let line = format!("[{:>6.1}s] {}: {message}", self.started.elapsed().as_secs_f64(), self.scenario);
        (self.progress)(&line);
    }

    /// Measures `variants` interleaved (see [`Harness::compare`]), reporting
    /// progress at every quarter of the samples; `fixed` gives a fixed batch size.
    pub fn compare(&mut self, variants: &mut [crate::harness::Variant<'_>], fixed: Option<u64>) -> Vec<Summary> {
        let harness = self.harness;
        let (scenario, started, progress) = (self.scenario, self.started, &mut *self.progress);
        let mut last_quarter = 0;
        harness.compare_observed(variants, fixed, &mut |done, total| {
            let quarter = done * 4 / total.max(1);
            if quarter > last_quarter && quarter < 4 {
                last_quarter = quarter;
                let line = format!(
                    "[{:>6.1}s] {scenario}:   {}% of {total} samples",
                    started.elapsed().as_secs_f64(),
                    quarter * 25
                );
                progress(&line);
            }
        })
    }

    /// Runs `scenarios` in order. A scenario that fails does not stop the
    /// others: its error is recorded as a note and its keys stay missing.
    pub fn run_all(&mut self, scenarios: &[Scenario]) {
        let total = scenarios.len();
        for (i, scenario) in scenarios.iter().enumerate() {
            self.scenario = scenario.name;
            self.step(&format!("({}/{total}) {}", i + 1, scenario.about));
            let start = Instant::now();
            match (scenario.run)(self) {
                Ok(()) => self.step(&format!("done in {:.1}s", start.elapsed().as_secs_f64())),
                Err(e) => {
                    self.step(&format!("FAILED: {e}"));
                    self.results.note(format!("scenario `{}` failed: {e}", scenario.name));
                    self.results.failed.push(scenario.name.to_owned());
                }
            }
        }
        self.scenario = "";
    }

    /// Consumes the session, returning its results.
    pub fn into_results(self) -> Results {
        self.results
    }
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("quick", &self.quick).field("scenario", &self.scenario).finish_non_exhaustive()
    }
}

/// Checks a subject's outcome against the expected one.
pub fn check<T: PartialEq + std::fmt::Debug>(subject: &str, got: T, expected: &T) -> Result<(), BenchError> {
    if &got == expected {
        Ok(())
    } else {
        Err(BenchError::WrongResult { subject: subject.to_owned(), detail: format!("{got:?}, expected {expected:?}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &mut Session<'_>) -> Result<(), BenchError> {
        s.results.value("ok.value", 1.0);
        Ok(())
    }

    fn broken(_: &mut Session<'_>) -> Result<(), BenchError> {
        check("broken", 2, &1)
    }

    #[test]
    fn a_failing_scenario_is_recorded_and_the_others_still_run() {
        let mut lines = Vec::new();
        let mut progress = |l: &str| lines.push(l.to_owned());
        let mut session = Session::new(HarnessConfig::TINY, true, &mut progress);
        session.run_all(&[
            Scenario { name: "broken", about: "fails", run: broken, default: true },
            Scenario { name: "ok", about: "works", run: ok, default: true },
        ]);
        let results = session.into_results();
        assert_eq!(results.failed, ["broken"]);
        assert_eq!(results.get("ok.value"), Some(1.0));
        assert!(results.notes[0].contains("broken computed the wrong result: 2, expected 1"), "{:?}", results.notes);
        assert!(lines.iter().any(|l| l.contains("broken: FAILED")), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("ok: (2/2) works")), "{lines:?}");
    }
}
