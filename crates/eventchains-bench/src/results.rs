//! [`Results`]: what the scenarios record, keyed by the dotted paths of
//! `report.json` (for example `anchors.raw_mlua_ns`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

/// Why a figure has no value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Missing {
    /// The dotted key (or key prefix ending in `.`) that has no value.
    pub key: String,
    /// Why, in plain words.
    pub reason: String,
}

/// The figures recorded by the scenarios of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Single numbers, by dotted key.
    pub values: BTreeMap<String, f64>,
    /// Distributions (median, p5, p95, min, max, samples), by dotted key.
    pub summaries: BTreeMap<String, Summary>,
    /// Figures that could not be measured, with the reason.
    pub missing: Vec<Missing>,
    /// Remarks worth reading beside the figures (one line each).
    pub notes: Vec<String>,
    /// Scenarios that failed (their error is in `notes`).
    pub failed: Vec<String>,
}

impl Results {
    /// Records a number.
    pub fn value(&mut self, key: impl Into<String>, value: f64) {
        self.values.insert(key.into(), value);
    }

    /// Records a distribution.
    pub fn summary(&mut self, key: impl Into<String>, summary: Summary) {
        self.summaries.insert(key.into(), summary);
    }

    /// Records that `key` could not be measured, and why.
    pub fn missing(&mut self, key: impl Into<String>, reason: impl Into<String>) {
        let key = key.into();
        if !self.missing.iter().any(|m| m.key == key) {
            self.missing.push(Missing { key, reason: reason.into() });
        }
    }

    /// Adds a remark.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The median of the summary at `key`, or the number at `key`.
    pub fn get(&self, key: &str) -> Option<f64> {
        self.summaries.get(key).map(|s| s.median).or_else(|| self.values.get(key).copied())
    }

    /// Why `key` has no value, if a scenario said so: for `key` itself or a
    /// parent of it (`a.b` covers `a.b.median`; `a.` covers every `a.*`).
    pub fn missing_reason(&self, key: &str) -> Option<&str> {
        self.missing
            .iter()
            .find(|m| {
                key.strip_prefix(m.key.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.') || m.key.ends_with('.'))
            })
            .map(|m| m.reason.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_prefers_summaries_and_missing_matches_prefixes() {
        let mut r = Results::default();
        r.value("a.b", 2.0);
        r.summary("a.c", Summary::of(&[1.0, 3.0]).expect("summary"));
        assert_eq!(r.get("a.b"), Some(2.0));
        assert_eq!(r.get("a.c"), Some(2.0));
        assert_eq!(r.get("a.d"), None);
        r.missing("lua.", "no lua");
        r.missing("lua.", "again");
        r.missing("x", "no x");
        assert_eq!(r.missing.len(), 2);
        assert_eq!(r.missing_reason("lua.setup"), Some("no lua"));
        assert_eq!(r.missing_reason("x"), Some("no x"));
        assert_eq!(r.missing_reason("xy"), None);
        assert_eq!(r.missing_reason("x.median"), Some("no x"));
    }
}
