//! What a case expected against what the run gave, as a list of readable
//! differences (`context.order.status: expected "confirmed", got "needs_review"`).

use eventchains_core::{ChainResult, Value};

use super::test_file::Expect;

/// The differences between `expect` and a run (empty when the case passes).
/// `matches(message, pattern)` applies a Lua pattern.
pub fn differences(
    expect: &Expect,
    result: &ChainResult,
    context: &Value,
    calls: &[(String, Value)],
    matches: &dyn Fn(&str, &str) -> bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let status = result.status().as_str();
    if let Some(want) = &expect.status
        && want != status
    {
        out.push(format!("status: expected {want:?}, got {status:?}"));
    }
    let failures = result.failures();
    // Unexpected failures are reported when the case says which it expects,
    // or expects a clean run.
    let expects_clean = expect.status.as_deref() == Some("completed");
    if let Some(wanted) = &expect.failures {
        if wanted.len() != failures.len() {
            out.push(format!("failures: expected {}, got {}", wanted.len(), failures.len()));
        }
        for (i, w) in wanted.iter().enumerate() {
            let at = format!("failures[{}]", i + 1);
            let Some(got) = failures.get(i) else { continue };
            if let Some(event) = &w.event
                && event != got.event()
            {
                out.push(format!("{at}.event: expected {event:?}, got {:?}", got.event()));
            }
            if let Some(kind) = &w.kind
                && kind != got.kind().as_str()
            {
                out.push(format!("{at}.kind: expected {kind:?}, got {:?}", got.kind().as_str()));
            }
            if let Some(pattern) = &w.message
                && !matches(got.message(), pattern)
            {
                out.push(format!("{at}.message: expected to match {pattern:?}, got {:?}", got.message()));
            }
        }
    }
    if (expect.failures.is_some() || expects_clean) && failures.len() > expect.failures.as_ref().map_or(0, Vec::len) {
        for (i, f) in failures.iter().enumerate().skip(expect.failures.as_ref().map_or(0, Vec::len)) {
            out.push(format!(
                "failures[{}]: unexpected failure of `{}` ({}): {}",
                i + 1,
                f.event(),
                f.kind().as_str(),
                f.message()
            ));
        }
    }
    if let Some(want) = &expect.context {
        subset("context", want, context, &mut out);
    }
    for (name, want) in &expect.calls {
        let got = calls.iter().find(|(n, _)| n == name).map_or(Value::Array(Vec::new()), |(_, v)| v.clone());
        let got_list = got.as_array().cloned().unwrap_or_default();
        match want {
            Value::Int(n) => {
                if usize::try_from(*n).ok() != Some(got_list.len()) {
                    out.push(format!("calls.{name}: expected {n} calls, got {} ({})", got_list.len(), json(&got)));
                }
            }
            want => {
                let want = match want {
                    Value::Map(m) if m.is_empty() => Value::Array(Vec::new()),
                    other => other.clone(),
                };
                if want != got {
                    out.push(format!("calls.{name}: expected {}, got {}", json(&want), json(&got)));
                }
            }
        }
    }
    out
}

/// Records where `got` differs from `want`: maps are compared on `want`'s keys
/// only (a subset), lists element by element, other values exactly (an
/// integer equals the float of the same value).
fn subset(at: &str, want: &Value, got: &Value, out: &mut Vec<String>) {
    match (want, got) {
        (Value::Map(w), Value::Map(g)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => subset(&format!("{at}.{k}"), wv, gv, out),
                    None => out.push(format!("{at}.{k}: expected {}, got nothing", json(wv))),
                }
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            if w.len() != g.len() {
                out.push(format!("{at}: expected {} items, got {} ({})", w.len(), g.len(), json(got)));
                return;
            }
            for (i, (wv, gv)) in w.iter().zip(g).enumerate() {
                subset(&format!("{at}[{}]", i + 1), wv, gv, out);
            }
        }
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) if want.as_f64() == got.as_f64() => {}
        (w, g) if w == g => {}
        (w, g) => out.push(format!("{at}: expected {}, got {}", json(w), json(g))),
    }
}

fn json(value: &Value) -> String {
    value.to_json().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_compare_only_the_expected_keys() {
        let got =
            Value::from_json(serde_json::json!({"order": {"status": "open", "id": "A"}, "n": 2.0, "list": [1, 2]}));
        let mut out = Vec::new();
        subset("context", &Value::from_json(serde_json::json!({"order": {"id": "A"}, "n": 2})), &got, &mut out);
        assert_eq!(out, Vec::<String>::new());
        let want = serde_json::json!({"order": {"status": "closed"}, "list": [1], "gone": true});
        subset("context", &Value::from_json(want), &got, &mut out);
        assert_eq!(
            out,
            [
                "context.order.status: expected \"closed\", got \"open\"",
                "context.list: expected 1 items, got 2 ([1,2])",
                "context.gone: expected true, got nothing"
            ]
        );
    }
}
