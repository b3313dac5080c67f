//! Test helpers: read what the middleware emitted through the `metrics`
//! facade, from `metrics-util`'s debugging recorder installed locally.
#![allow(dead_code)] // each test file uses a part of these helpers

use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// One metric series: kind, name, labels (sorted) and value.
#[derive(Debug)]
pub struct Series {
    pub kind: MetricKind,
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: DebugValue,
}

impl Series {
    fn has(&self, labels: &[(&str, &str)]) -> bool {
        labels.iter().all(|(k, v)| self.labels.iter().any(|(lk, lv)| lk == k && lv == v))
    }
}

/// Runs `f` with a fresh debugging recorder as this thread's recorder and
/// returns every series it recorded.
pub fn recorded(f: impl FnOnce()) -> Recorded {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, f);
    let series = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _unit, _description, value)| {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<(String, String)> =
                key.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            labels.sort();
            Series { kind, name: key.name().to_owned(), labels, value }
        })
        .collect();
    Recorded { series }
}

/// The series of one recording.
#[derive(Debug)]
pub struct Recorded {
    pub series: Vec<Series>,
}

impl Recorded {
    /// The series named `name` that carry all of `labels`.
    pub fn find(&self, name: &str, labels: &[(&str, &str)]) -> Vec<&Series> {
        self.series.iter().filter(|s| s.name == name && s.has(labels)).collect()
    }

    /// The sum of the counters named `name` with `labels`.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.find(name, labels)
            .iter()
            .map(|s| match &s.value {
                DebugValue::Counter(n) => *n,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    }

    /// The samples of the histograms named `name` with `labels`.
    pub fn samples(&self, name: &str, labels: &[(&str, &str)]) -> usize {
        self.find(name, labels)
            .iter()
            .map(|s| match &s.value {
                DebugValue::Histogram(samples) => samples.len(),
                other => panic!("{name} is not a histogram: {other:?}"),
            })
            .sum()
    }

    /// The value of the one gauge named `name` with `labels`.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let found = self.find(name, labels);
        assert!(found.len() <= 1, "several gauges {name} {labels:?}: {found:?}");
        found.first().map(|s| match &s.value {
            DebugValue::Gauge(v) => v.into_inner(),
            other => panic!("{name} is not a gauge: {other:?}"),
        })
    }
}
