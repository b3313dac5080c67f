//! The JSON Schema of the format v1 script table for one host, made from the
//! same registries (and their config schemas) the loader builds from.
//!
//! JSON has no tables with both list entries and keys, so a named part with a
//! config, `{ "retry", max_attempts = 3 }`, is described as the object
//! `{"1": "retry", "max_attempts": 3}`.

use eventchains_core::Registry;
use serde_json::{Map, Value as Json, json};

use crate::spec;

/// The schema of the script table (see the module docs).
pub(crate) fn script_schema<M: ?Sized, E: ?Sized>(middleware: &Registry<M>, events: &Registry<E>) -> Json {
    let mut defs = Map::new();
    let mut middleware_entries = vec![
        json!({ "description": "A named Rust middleware without config.", "enum": middleware.names().collect::<Vec<_>>() }),
        json!({ "description": "A middleware written in Lua: function(event, ctx, next)." , "x-lua-type": "function" }),
    ];
    for name in middleware.names() {
        let def = format!("middleware.{name}");
        let config = part_config(middleware, name, &def, &mut defs);
        defs.insert(def.clone(), with_head(config, json!({ "1": { "const": name } }), &["1"]));
        middleware_entries.push(json!({ "$ref": format!("#/$defs/{def}") }));
    }
    let mut event_entries = vec![json!({
        "description": "An event written in Lua.",
        "type": "object",
        "properties": {
            "name": { "type": "string", "minLength": 1 },
            "handler": { "description": "function(ctx)", "x-lua-type": "function" }
        },
        "required": ["name", "handler"],
        "additionalProperties": false
    })];
    for name in events.names() {
        let def = format!("event.{name}");
        let config = part_config(events, name, &def, &mut defs);
        let head = json!({ "name": { "type": "string", "minLength": 1 }, "rust": { "const": name } });
        defs.insert(def.clone(), with_head(config, head, &["name", "rust"]));
        event_entries.push(json!({ "$ref": format!("#/$defs/{def}") }));
    }
    let mut properties = Map::new();
    for key in spec::TOP_KEYS.split(", ") {
        let schema = match key {
            "name" => json!({ "type": "string", "description": "Used in logs and errors." }),
            "fault_tolerance" => json!({ "enum": ["strict", "lenient", "best_effort"], "default": "strict" }),
            "context" => json!({ "type": "object", "description": "Initial values; the caller's values win." }),
            "limits" => {
                let limits: Map<String, Json> = spec::LIMIT_KEYS
                    .split(", ")
                    .map(|k| (k.to_owned(), json!({ "type": "number", "exclusiveMinimum": 0 })))
                    .collect();
                json!({ "type": "object", "properties": limits, "additionalProperties": false })
            }
            "middleware" => json!({
                "type": "array",
                "description": "Registration order: the last one is the outermost.",
                "items": { "anyOf": middleware_entries }
            }),
            "events" => json!({ "type": "array", "items": { "anyOf": event_entries } }),
            _ => json!({}),
        };
        properties.insert(key.to_owned(), schema);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "eventchains chain script (format v1)",
        "type": "object",
        "properties": properties,
        "required": ["events"],
        "additionalProperties": false,
        "$defs": defs
    })
}

/// The config schema of `name` with its `$defs` moved into `defs` under
/// `prefix.` (and its `$ref`s rewritten), or "any table" without a schema.
fn part_config<T: ?Sized>(registry: &Registry<T>, name: &str, prefix: &str, defs: &mut Map<String, Json>) -> Json {
    let Some(schema) = registry.schema(name) else { return json!({ "type": "object" }) };
    let mut root = schema.json().clone();
    rewrite_refs(&mut root, prefix);
    if let Some(Json::Object(own)) = root.as_object_mut().and_then(|o| o.remove("$defs")) {
        for (k, v) in own {
            defs.insert(format!("{prefix}.{k}"), v);
        }
    }
    if let Some(o) = root.as_object_mut() {
        o.remove("$schema");
    }
    root
}

fn rewrite_refs(node: &mut Json, prefix: &str) {
    match node {
        Json::Object(map) => {
            for (k, v) in map.iter_mut() {
                match (k.as_str(), v) {
                    ("$ref", Json::String(r)) => {
                        if let Some(def) = r.strip_prefix("#/$defs/") {
                            *r = format!("#/$defs/{prefix}.{def}");
                        }
                    }
                    (_, v) => rewrite_refs(v, prefix),
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, prefix)),
        _ => {}
    }
}

/// `config` with the entry's own keys (`[1]`, `name`, `rust`) added as required properties.
fn with_head(mut config: Json, head: Json, required: &[&str]) -> Json {
    if let (Some(obj), Json::Object(head)) = (config.as_object_mut(), head) {
        let props = obj.entry("properties").or_insert_with(|| json!({}));
        if let Some(props) = props.as_object_mut() {
            for (k, v) in head {
                props.insert(k, v);
            }
        }
        let req = obj.entry("required").or_insert_with(|| json!([]));
        if let Some(req) = req.as_array_mut() {
            req.extend(required.iter().map(|r| json!(r)));
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use eventchains_core::{ConfigSchema, EventRegistry, FnEvent, MiddlewareRegistry};

    use super::*;

    #[test]
    fn the_script_schema_embeds_every_part_with_renamed_defs() {
        let mut middleware = MiddlewareRegistry::new();
        middleware.register_raw("m", |_| Err("unused".to_owned()));
        middleware.set_schema(
            "m",
            ConfigSchema::new(json!({
                "type": "object",
                "properties": { "mode": { "$ref": "#/$defs/Mode" } },
                "additionalProperties": false,
                "$defs": { "Mode": { "enum": ["a", "b"] } }
            })),
        );
        let mut events = EventRegistry::new();
        events.register_event("e", FnEvent::new("e", |_| Ok(())));
        let schema = script_schema(&middleware, &events);
        let keys: Vec<&String> = schema["properties"].as_object().map(|p| p.keys().collect()).unwrap_or_default();
        assert_eq!(keys, spec::TOP_KEYS.split(", ").collect::<Vec<_>>());
        assert_eq!(schema["$defs"]["middleware.m"]["properties"]["mode"]["$ref"], "#/$defs/middleware.m.Mode");
        assert_eq!(schema["$defs"]["middleware.m.Mode"]["enum"], json!(["a", "b"]));
        assert_eq!(schema["$defs"]["middleware.m"]["required"], json!(["1"]));
        assert_eq!(schema["$defs"]["event.e"]["properties"]["rust"]["const"], "e");
        assert_eq!(schema["properties"]["middleware"]["items"]["anyOf"][0]["enum"], json!(["m"]));
    }
}
