//! [`ConfigSchema`]: the JSON Schema of a named part's config, and what the
//! registry, the loader and the tools read from it (the fields with their
//! defaults, why a config does not fit, the effective config).
//!
//! The schema is plain JSON Schema (draft 2020-12, as `schemars` writes it);
//! only the subset that describes serde configs is interpreted: `type`,
//! `enum`, `const`, `properties`, `additionalProperties`, `items`, `anyOf`,
//! `oneOf`, `minimum`, `maximum`, `default`, `description` and local `$ref`s
//! into `$defs`. Anything else is accepted as is.

use std::fmt;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::value::Value;

/// The JSON Schema of one config type (cheap to clone).
///
/// ```
/// use eventchains_core::{ConfigSchema, Value};
/// let schema = ConfigSchema::new(serde_json::json!({
///     "type": "object",
///     "properties": {
///         "max_attempts": { "type": "integer", "minimum": 0, "default": 3 },
///         "backoff": { "type": "string", "enum": ["none", "fixed"], "default": "none" }
///     },
///     "additionalProperties": false
/// }));
/// let typo: Value = [("max_attempt", 5)].into_iter().collect();
/// assert_eq!(
///     schema.check(&typo).unwrap_err().to_string(),
///     "unknown key `max_attempt` (did you mean `max_attempts`?); allowed keys: max_attempts, backoff"
/// );
/// let wrong: Value = [("backoff", "expo")].into_iter().collect();
/// assert_eq!(
///     schema.check(&wrong).unwrap_err().to_string(),
///     "`backoff`: expected one of \"none\", \"fixed\", got the string \"expo\""
/// );
/// let effective = schema.with_defaults(&Value::Nil);
/// assert_eq!(effective.to_json(), serde_json::json!({"max_attempts": 3, "backoff": "none"}));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigSchema {
    root: Arc<Json>,
}

/// One top-level key of a config, as its schema describes it.
#[derive(Clone, Copy, Debug)]
pub struct ConfigField<'a> {
    /// The key.
    pub name: &'a str,
    /// The key's schema, with a top-level `$ref` resolved.
    pub schema: &'a Json,
    /// The default value, if the schema gives one.
    pub default: Option<&'a Json>,
    /// The documentation of the key, if any.
    pub description: Option<&'a str>,
    /// `true` if the config must have this key.
    pub required: bool,
}

/// Why a config does not fit its schema: the key path, what was expected and
/// what was found (and the closest allowed key for an unknown one).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigMismatch {
    /// A key the config type does not have.
    #[error("{}", unknown_key(.path, .allowed, .closest))]
    UnknownKey {
        /// The key path (`budget.ratio` for nested tables).
        path: String,
        /// The allowed keys at that level.
        allowed: Vec<String>,
        /// The allowed key closest to the unknown one, if any is close.
        closest: Option<String>,
    },
    /// A value of the wrong type or outside the allowed values.
    #[error("`{path}`: expected {expected}, got {found}")]
    WrongValue {
        /// The key path (empty for the config itself).
        path: String,
        /// What the schema allows (`a non-negative integer`, `one of "none", "fixed"`).
        expected: String,
        /// What the config has (`the string "fast"`).
        found: String,
    },
    /// A required key is absent.
    #[error("missing the key `{path}` ({expected})")]
    MissingKey {
        /// The key path.
        path: String,
        /// What the schema expects there.
        expected: String,
    },
}

impl ConfigMismatch {
    /// The key path the mismatch is at (`budget.ratio` for nested tables).
    pub fn path(&self) -> &str {
        match self {
            ConfigMismatch::UnknownKey { path, .. }
            | ConfigMismatch::WrongValue { path, .. }
            | ConfigMismatch::MissingKey { path, .. } => path,
        }
    }
}

fn unknown_key(path: &str, allowed: &[String], closest: &Option<String>) -> String {
    if allowed.is_empty() && !path.contains('.') {
        return "takes no config".to_owned();
    }
    let suggestion = closest.as_ref().map(|c| format!(" (did you mean `{c}`?)")).unwrap_or_default();
    let allowed = if allowed.is_empty() { "(none)".to_owned() } else { allowed.join(", ") };
    format!("unknown key `{path}`{suggestion}; allowed keys: {allowed}")
}

impl ConfigSchema {
    /// Wraps a JSON Schema document.
    pub fn new(schema: Json) -> Self {
        ConfigSchema { root: Arc::new(schema) }
    }

    /// The schema of a config type that takes no keys at all.
    pub fn empty() -> Self {
        Self::new(serde_json::json!({ "type": "object", "properties": {}, "additionalProperties": false }))
    }

    /// The schema of `C`, as `schemars` derives it.
    #[cfg(feature = "schemars")]
    pub fn of<C: schemars::JsonSchema>() -> Self {
        Self::new(schemars::schema_for!(C).to_value())
    }

    /// The JSON Schema document.
    pub fn json(&self) -> &Json {
        &self.root
    }

    /// `node` with a local `$ref` (`#/$defs/Name`) followed, possibly several times.
    pub fn resolve<'a>(&'a self, mut node: &'a Json) -> &'a Json {
        for _ in 0..32 {
            let Some(target) = node.get("$ref").and_then(Json::as_str) else { return node };
            match target.strip_prefix("#").and_then(|pointer| self.root.pointer(pointer)) {
                Some(next) => node = next,
                None => return node,
            }
        }
        node
    }

    /// The config's top-level keys in schema order.
    pub fn fields(&self) -> Vec<ConfigField<'_>> {
        let root = self.resolve(&self.root);
        let required = required_keys(root);
        root.get("properties")
            .and_then(Json::as_object)
            .map(|props| {
                props
                    .iter()
                    .map(|(name, node)| ConfigField {
                        name,
                        schema: self.resolve(node),
                        default: node.get("default").or_else(|| self.resolve(node).get("default")),
                        description: node
                            .get("description")
                            .or_else(|| self.resolve(node).get("description"))
                            .and_then(Json::as_str),
                        required: required.contains(&name.as_str()),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `Ok` if `config` fits the schema (`nil` reads as an empty table), or the
    /// first mismatch found.
    pub fn check(&self, config: &Value) -> Result<(), ConfigMismatch> {
        match config {
            Value::Nil => self.check_node(&self.root, &Value::Map(Default::default()), ""),
            other => self.check_node(&self.root, other, ""),
        }
    }

    /// `config` with every absent top-level key that has a default filled in
    /// (`nil` reads as an empty table), in schema order: the config the part
    /// really runs with.
    pub fn with_defaults(&self, config: &Value) -> Value {
        let given = match config {
            Value::Map(m) => m.clone(),
            _ => Default::default(),
        };
        let mut map = crate::value::Map::default();
        for field in self.fields() {
            match (given.get(field.name), field.default) {
                (Some(v), _) => map.insert(field.name.to_owned(), v.clone()),
                (None, Some(default)) => map.insert(field.name.to_owned(), Value::from_json(default.clone())),
                (None, None) => None,
            };
        }
        for (k, v) in given {
            if !map.contains_key(&k) {
                map.insert(k, v);
            }
        }
        Value::Map(map)
    }

    /// What `node` allows, in words (`a non-negative integer`, `one of "a", "b"`).
    pub fn describe(&self, node: &Json) -> String {
        self.describe_depth(node, 0)
    }

    fn describe_depth(&self, node: &Json, depth: usize) -> String {
        let node = self.resolve(node);
        if depth > 8 {
            return "a value".to_owned();
        }
        if let Some(values) = allowed_values(self, node) {
            return format!("one of {}", values.join(", "));
        }
        if let Some(alternatives) = alternatives(node) {
            let mut parts: Vec<String> = Vec::new();
            for alt in alternatives {
                let d = self.describe_depth(alt, depth + 1);
                if !parts.contains(&d) {
                    parts.push(d);
                }
            }
            return parts.join(" or ");
        }
        let types = types_of(node);
        if types.is_empty() {
            return "a value".to_owned();
        }
        types.iter().map(|t| self.describe_type(node, t, depth)).collect::<Vec<_>>().join(" or ")
    }

    fn describe_type(&self, node: &Json, ty: &str, depth: usize) -> String {
        match ty {
            "integer" => match (node.get("minimum").and_then(Json::as_f64), node.get("maximum").and_then(Json::as_f64))
            {
                (Some(0.0), _) => "a non-negative integer".to_owned(),
                (Some(min), Some(max)) => format!("an integer from {min} to {max}"),
                (Some(min), None) => format!("an integer >= {min}"),
                _ => "an integer".to_owned(),
            },
            "number" => {
                match (node.get("minimum").and_then(Json::as_f64), node.get("maximum").and_then(Json::as_f64)) {
                    (Some(min), Some(max)) => format!("a number from {min} to {max}"),
                    (Some(min), None) => format!("a number >= {min}"),
                    _ => "a number".to_owned(),
                }
            }
            "string" => "a string".to_owned(),
            "boolean" => "a boolean".to_owned(),
            "null" => "nil".to_owned(),
            "array" => match node.get("items") {
                Some(items) => format!("a list of {}", plural(&self.describe_depth(items, depth + 1))),
                None => "a list".to_owned(),
            },
            "object" => match node.get("additionalProperties") {
                Some(values @ Json::Object(_)) if node.get("properties").is_none() => {
                    format!("a table of {}", plural(&self.describe_depth(values, depth + 1)))
                }
                _ => "a table".to_owned(),
            },
            other => format!("a {other}"),
        }
    }

    fn check_node(&self, node: &Json, value: &Value, path: &str) -> Result<(), ConfigMismatch> {
        let node = self.resolve(node);
        let wrong =
            || ConfigMismatch::WrongValue { path: path.to_owned(), expected: self.describe(node), found: found(value) };
        if let Some(alternatives) = alternatives(node) {
            // The first alternative whose type fits decides (a more precise
            // message than "expected A or B" when the type is right).
            let mut fitting_type = None;
            for alt in alternatives {
                match self.check_node(alt, value, path) {
                    Ok(()) => return Ok(()),
                    Err(e @ (ConfigMismatch::UnknownKey { .. } | ConfigMismatch::MissingKey { .. })) => {
                        fitting_type.get_or_insert(e);
                    }
                    // A wrong value deeper down: the type fitted, the mismatch is inside.
                    Err(e @ ConfigMismatch::WrongValue { .. }) if e.path() != path => {
                        fitting_type.get_or_insert(e);
                    }
                    Err(ConfigMismatch::WrongValue { .. }) => {}
                }
            }
            return Err(fitting_type.unwrap_or_else(wrong));
        }
        if let Some(values) = node.get("enum").and_then(Json::as_array) {
            return if values.contains(&value.to_json()) { Ok(()) } else { Err(wrong()) };
        }
        if let Some(constant) = node.get("const") {
            return if *constant == value.to_json() { Ok(()) } else { Err(wrong()) };
        }
        let types = types_of(node);
        if types.is_empty() {
            return Ok(());
        }
        if !types.iter().any(|t| type_fits(t, value)) {
            return Err(wrong());
        }
        if let Some(n) = value.as_f64().filter(|_| matches!(value, Value::Int(_) | Value::Float(_))) {
            let below = node.get("minimum").and_then(Json::as_f64).is_some_and(|min| n < min);
            let above = node.get("maximum").and_then(Json::as_f64).is_some_and(|max| n > max);
            if below || above {
                return Err(wrong());
            }
        }
        match value {
            Value::Array(items) => {
                if let Some(item) = node.get("items") {
                    for (i, v) in items.iter().enumerate() {
                        self.check_node(item, v, &format!("{path}[{}]", i + 1))?;
                    }
                }
                Ok(())
            }
            Value::Map(map) => self.check_map(node, map, path),
            _ => Ok(()),
        }
    }

    fn check_map(&self, node: &Json, map: &crate::value::Map, path: &str) -> Result<(), ConfigMismatch> {
        let props = node.get("properties").and_then(Json::as_object);
        let extra = node.get("additionalProperties");
        let at = |key: &str| if path.is_empty() { key.to_owned() } else { format!("{path}.{key}") };
        for (key, v) in map {
            match (props.and_then(|p| p.get(key)), extra) {
                (Some(prop), _) => self.check_node(prop, v, &at(key))?,
                (None, Some(Json::Bool(false))) => {
                    let allowed: Vec<String> = props.map(|p| p.keys().cloned().collect()).unwrap_or_default();
                    let closest = closest_name(key, allowed.iter().map(String::as_str)).map(str::to_owned);
                    return Err(ConfigMismatch::UnknownKey { path: at(key), allowed, closest });
                }
                (None, Some(values @ Json::Object(_))) => self.check_node(values, v, &at(key))?,
                (None, _) => {}
            }
        }
        for key in required_keys(node) {
            if !map.contains_key(key) {
                let expected =
                    props.and_then(|p| p.get(key)).map_or_else(|| "a value".to_owned(), |p| self.describe(p));
                return Err(ConfigMismatch::MissingKey { path: at(key), expected });
            }
        }
        Ok(())
    }
}

/// The JSON Schema `type`s of `node` (a string or a list of strings).
fn types_of(node: &Json) -> Vec<&str> {
    match node.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

fn alternatives(node: &Json) -> Option<&Vec<Json>> {
    node.get("anyOf").or_else(|| node.get("oneOf")).and_then(Json::as_array)
}

fn required_keys(node: &Json) -> Vec<&str> {
    node.get("required")
        .and_then(Json::as_array)
        .map(|r| r.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default()
}

/// The literal values `node` allows (`enum`, or alternatives that are all `const`), as JSON text.
fn allowed_values(schema: &ConfigSchema, node: &Json) -> Option<Vec<String>> {
    if let Some(values) = node.get("enum").and_then(Json::as_array) {
        return Some(values.iter().map(Json::to_string).collect());
    }
    if let Some(constant) = node.get("const") {
        return Some(vec![constant.to_string()]);
    }
    let alts = alternatives(node)?;
    let mut out = Vec::new();
    for alt in alts {
        out.extend(allowed_values(schema, schema.resolve(alt))?);
    }
    Some(out)
}

/// Whether a value of the dynamic type of `value` fits the JSON Schema type `ty`.
/// Lua cannot tell an empty list from an empty table, so either fits both.
fn type_fits(ty: &str, value: &Value) -> bool {
    match (ty, value) {
        ("null", Value::Nil) | ("boolean", Value::Bool(_)) | ("string", Value::String(_)) => true,
        ("integer", Value::Int(_)) => true,
        ("integer", Value::Float(f)) => f.fract() == 0.0 && f.is_finite(),
        ("number", Value::Int(_) | Value::Float(_)) => true,
        ("array", Value::Array(_)) | ("object", Value::Map(_)) => true,
        ("array", Value::Map(m)) => m.is_empty(),
        ("object", Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// `the string "fast"`, `the integer 3`, `a table` for messages.
fn found(value: &Value) -> String {
    match value {
        Value::Nil => "nil".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Int(i) => format!("the integer {i}"),
        Value::Float(f) => format!("the number {f}"),
        Value::String(s) => format!("the string {}", Json::String(s.clone())),
        Value::Array(_) => "a list".to_owned(),
        Value::Map(_) => "a table".to_owned(),
    }
}

/// `a non-negative integer` -> `non-negative integers` (for "a list of ...").
fn plural(description: &str) -> String {
    let bare = description.strip_prefix("an ").or_else(|| description.strip_prefix("a ")).unwrap_or(description);
    if bare.starts_with("one of") || bare.contains(" or ") { bare.to_owned() } else { format!("{bare}s") }
}

/// The candidate closest to `name` by edit distance, if it is close enough to
/// be a likely typo (at most a third of the name's length, at least 1).
///
/// ```
/// use eventchains_core::closest_name;
/// assert_eq!(closest_name("evnets", ["name", "events", "limits"]), Some("events"));
/// assert_eq!(closest_name("retyr", ["logging", "retry"]), Some("retry"));
/// assert_eq!(closest_name("zzz", ["logging", "retry"]), None);
/// ```
pub fn closest_name<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

impl fmt::Display for ConfigSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string_pretty(&*self.root) {
            Ok(text) => f.write_str(&text),
            Err(_) => Err(fmt::Error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn retry_like() -> ConfigSchema {
        ConfigSchema::new(json!({
            "type": "object",
            "properties": {
                "max_attempts": { "type": "integer", "format": "uint32", "minimum": 0, "default": 3 },
                "backoff": { "$ref": "#/$defs/Backoff", "default": "exponential" },
                "seed": { "type": ["integer", "null"], "minimum": 0, "default": null },
                "retry_on": { "type": "array", "items": { "$ref": "#/$defs/Kind" }, "default": [] },
                "budget": { "anyOf": [{ "$ref": "#/$defs/Budget" }, { "type": "null" }] },
                "per_event": { "type": "object", "additionalProperties": { "type": "integer", "minimum": 0 } }
            },
            "additionalProperties": false,
            "$defs": {
                "Backoff": { "oneOf": [
                    { "type": "string", "const": "none", "description": "no wait" },
                    { "type": "string", "const": "exponential" }
                ] },
                "Kind": { "type": "string", "enum": ["event", "timeout"] },
                "Budget": { "type": "object", "properties": { "ratio": { "type": "number" } },
                            "additionalProperties": false, "required": ["ratio"] }
            }
        }))
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        entries.into_iter().collect()
    }

    #[test]
    fn valid_configs_pass() {
        let s = retry_like();
        assert_eq!(s.check(&Value::Nil), Ok(()));
        let ok = map(vec![
            ("max_attempts", Value::Int(5)),
            ("backoff", "none".into()),
            ("seed", Value::Nil),
            ("retry_on", Value::from(vec!["timeout"])),
            ("budget", map(vec![("ratio", Value::Int(1))])),
            ("per_event", map(vec![("charge", Value::Int(10))])),
        ]);
        assert_eq!(s.check(&ok), Ok(()));
        // Lua cannot tell `{}` from an empty list.
        assert_eq!(s.check(&map(vec![("retry_on", Value::Map(Default::default()))])), Ok(()));
    }

    #[test]
    fn mismatches_name_the_key_the_expected_type_and_the_values() {
        let s = retry_like();
        let msg = |v: Value| s.check(&v).unwrap_err().to_string();
        assert_eq!(
            msg(map(vec![("max_attempts", "three".into())])),
            "`max_attempts`: expected a non-negative integer, got the string \"three\""
        );
        assert_eq!(
            msg(map(vec![("max_attempts", Value::Int(-1))])),
            "`max_attempts`: expected a non-negative integer, got the integer -1"
        );
        assert_eq!(
            msg(map(vec![("backoff", "linear".into())])),
            "`backoff`: expected one of \"none\", \"exponential\", got the string \"linear\""
        );
        assert_eq!(
            msg(map(vec![("retry_on", Value::from(vec!["event", "oops"]))])),
            "`retry_on[2]`: expected one of \"event\", \"timeout\", got the string \"oops\""
        );
        assert_eq!(
            msg(map(vec![("budget", map(vec![("ratoi", Value::Int(1))]))])),
            "unknown key `budget.ratoi` (did you mean `ratio`?); allowed keys: ratio"
        );
        assert_eq!(msg(map(vec![("budget", map(vec![]))])), "missing the key `budget.ratio` (a number)");
        assert_eq!(
            msg(map(vec![("per_event", map(vec![("charge", "soon".into())]))])),
            "`per_event.charge`: expected a non-negative integer, got the string \"soon\""
        );
        assert_eq!(
            msg(map(vec![("seed", Value::Bool(true))])),
            "`seed`: expected a non-negative integer or nil, got the boolean true"
        );
        assert!(msg(map(vec![("zzz", Value::Int(1))])).starts_with("unknown key `zzz`; allowed keys: max_attempts"));
    }

    #[test]
    fn fields_and_effective_config_come_from_the_schema() {
        let s = retry_like();
        let names: Vec<_> = s.fields().iter().map(|f| f.name).collect();
        assert_eq!(names, ["max_attempts", "backoff", "seed", "retry_on", "budget", "per_event"]);
        assert_eq!(s.fields()[1].default, Some(&json!("exponential")));
        assert_eq!(s.describe(s.fields()[1].schema), "one of \"none\", \"exponential\"");
        assert_eq!(s.describe(s.fields()[3].schema), "a list of one of \"event\", \"timeout\"");
        let effective = s.with_defaults(&map(vec![("max_attempts", Value::Int(7))]));
        assert_eq!(
            effective.to_json(),
            json!({"max_attempts": 7, "backoff": "exponential", "seed": null, "retry_on": []})
        );
    }

    #[cfg(feature = "schemars")]
    #[test]
    fn a_wrong_value_inside_an_optional_table_names_the_inner_key() {
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[allow(dead_code)] // read by the schema only
        struct Budget {
            ratio: f64,
        }
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        #[allow(dead_code)] // read by the schema only
        struct Outer {
            budget: Option<Budget>,
        }
        let schema = ConfigSchema::of::<Outer>();
        let config: Value = [("budget", Value::from_iter([("ratio", Value::from("lots"))]))].into_iter().collect();
        let err = schema.check(&config).unwrap_err();
        assert_eq!(err.path(), "budget.ratio");
        assert_eq!(err.to_string(), "`budget.ratio`: expected a number, got the string \"lots\"");
    }

    #[test]
    fn closest_names_are_typos_only() {
        assert_eq!(closest_name("max_attempt", ["backoff", "max_attempts"]), Some("max_attempts"));
        assert_eq!(closest_name("timeout", ["timing", "timeout"]), Some("timeout"));
        assert_eq!(closest_name("a", ["bcd"]), None);
        assert_eq!(edit_distance("evnets", "events"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
