//! What `eventchains test` prints: `cargo test`-like text, or JUnit XML.

use std::io::Write;
use std::time::Duration;

/// The outcome of one case.
#[derive(Debug)]
pub struct CaseOutcome {
    /// The test file.
    pub file: String,
    /// The case's name.
    pub name: String,
    /// What differed from the expectations (empty: passed).
    pub differences: Vec<String>,
    /// How long it took.
    pub duration: Duration,
}

/// Every case run.
#[derive(Debug, Default)]
pub struct Report {
    cases: Vec<CaseOutcome>,
}

impl Report {
    /// Adds a case.
    pub fn push(&mut self, outcome: CaseOutcome) {
        self.cases.push(outcome);
    }

    /// How many cases failed.
    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|c| !c.differences.is_empty()).count()
    }

    /// One line per case, the differences of the failed ones, and `N passed, M failed`.
    pub fn write_text(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, "running {} test case{}", self.cases.len(), if self.cases.len() == 1 { "" } else { "s" })?;
        for c in &self.cases {
            let verdict = if c.differences.is_empty() { "ok" } else { "FAILED" };
            writeln!(out, "test {} :: {} ... {verdict}", c.file, c.name)?;
        }
        let failed: Vec<&CaseOutcome> = self.cases.iter().filter(|c| !c.differences.is_empty()).collect();
        if !failed.is_empty() {
            writeln!(out, "\nfailures:")?;
            for c in &failed {
                writeln!(out, "\n---- {} :: {} ----", c.file, c.name)?;
                for d in &c.differences {
                    writeln!(out, "  {d}")?;
                }
            }
            writeln!(out)?;
        }
        writeln!(out, "{} passed, {} failed", self.cases.len() - failed.len(), failed.len())
    }

    /// JUnit XML: one `<testsuite>` per test file, one `<testcase>` per case.
    pub fn write_junit(&self, out: &mut impl Write) -> std::io::Result<()> {
        writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
        let total: f64 = self.cases.iter().map(|c| c.duration.as_secs_f64()).sum();
        writeln!(
            out,
            r#"<testsuites name="eventchains" tests="{}" failures="{}" time="{total:.6}">"#,
            self.cases.len(),
            self.failed()
        )?;
        let mut files: Vec<&str> = self.cases.iter().map(|c| c.file.as_str()).collect();
        files.dedup();
        for file in files {
            let cases: Vec<&CaseOutcome> = self.cases.iter().filter(|c| c.file == file).collect();
            let failures = cases.iter().filter(|c| !c.differences.is_empty()).count();
            writeln!(out, r#"  <testsuite name="{}" tests="{}" failures="{failures}">"#, xml(file), cases.len())?;
            for c in cases {
                let time = c.duration.as_secs_f64();
                write!(out, r#"    <testcase classname="{}" name="{}" time="{time:.6}""#, xml(file), xml(&c.name))?;
                if c.differences.is_empty() {
                    writeln!(out, "/>")?;
                } else {
                    writeln!(out, ">")?;
                    let first = c.differences.first().map(String::as_str).unwrap_or_default();
                    writeln!(
                        out,
                        r#"      <failure message="{}">{}</failure>"#,
                        xml(first),
                        xml(&c.differences.join("\n"))
                    )?;
                    writeln!(out, "    </testcase>")?;
                }
            }
            writeln!(out, "  </testsuite>")?;
        }
        writeln!(out, "</testsuites>")
    }
}

/// Escapes text for XML attributes and content.
fn xml(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut r = Report::default();
        r.push(CaseOutcome {
            file: "a.test.lua".into(),
            name: "good".into(),
            differences: vec![],
            duration: Duration::ZERO,
        });
        r.push(CaseOutcome {
            file: "a.test.lua".into(),
            name: "bad <1>".into(),
            differences: vec!["status: expected \"completed\", got \"failed\"".into()],
            duration: Duration::ZERO,
        });
        r
    }

    #[test]
    fn text_and_junit_reports() {
        let mut text = Vec::new();
        report().write_text(&mut text).expect("write");
        let text = String::from_utf8(text).expect("utf8");
        assert!(text.contains("test a.test.lua :: good ... ok\ntest a.test.lua :: bad <1> ... FAILED\n"), "{text}");
        assert!(text.contains("---- a.test.lua :: bad <1> ----\n  status: expected \"completed\", got \"failed\"\n"));
        assert!(text.ends_with("1 passed, 1 failed\n"));
        let mut xml = Vec::new();
        report().write_junit(&mut xml).expect("write");
        let xml = String::from_utf8(xml).expect("utf8");
        assert!(xml.contains(r#"<testsuite name="a.test.lua" tests="2" failures="1">"#), "{xml}");
        assert!(xml.contains(r#"name="bad &lt;1&gt;""#));
        assert!(xml.contains(r#"<failure message="status: expected &quot;completed&quot;, got &quot;failed&quot;">"#));
    }
}
