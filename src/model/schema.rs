//! The model file's JSON Schema (`meshsim schema`), generated from the structs in [`super::raw`]
//! so that it cannot drift from what the loader accepts. Editors built on Taplo (VS Code's Even
//! Better TOML, Helix, Zed) read it through a `#:schema` comment and complete and check models as
//! they are typed.
//!
//! The derive covers the plain fields; the functions here describe the fields kept as raw TOML
//! values (durations, calls, sweep specs) and the string fields that take a fixed set of words,
//! reading the same lists as validation does.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};
use std::borrow::Cow;

use super::raw::{RawModel, words};

/// The file name `meshsim init` writes the schema under, next to the model.
pub const FILE_NAME: &str = "meshsim.schema.json";

/// The JSON Schema of a model file, as pretty-printed JSON.
pub fn json() -> String {
    let schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<RawModel>();
    let mut schema = schema.to_value();
    drop_null_defaults(&mut schema);
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises");
    text.push('\n');
    text
}

/// Optional fields read with `#[serde(default)]` (so that the schema does not call them required)
/// get `"default": null`, which TOML cannot write: leave those defaults out.
fn drop_null_defaults(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("default") == Some(&Value::Null) {
                map.remove("default");
            }
            map.values_mut().for_each(drop_null_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}

/// A duration in ms, written once under `definitions` and referred to by every duration field.
pub fn duration(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<Duration>()
}

/// Durations by name (a deployment's service time per endpoint).
pub fn durations_by_name(generator: &mut SchemaGenerator) -> Schema {
    let duration = generator.subschema_for::<Duration>();
    schemars::json_schema!({ "type": "object", "additionalProperties": duration })
}

/// The schema of a duration: a number (a constant) or a `{ dist = …, … }` table, one branch per
/// distribution so that an editor offers each one's parameters.
struct Duration;

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let mut branches = vec![json!({
            "type": "number",
            "minimum": 0,
            "description": "A constant, in milliseconds."
        })];
        for (name, required, optional) in words::DISTRIBUTIONS {
            let mut properties = serde_json::Map::new();
            properties.insert("dist".into(), json!({ "const": name }));
            for field in required.iter().chain(optional.iter()) {
                properties.insert((*field).into(), distribution_field(field));
            }
            let mut needed = vec![json!("dist")];
            needed.extend(required.iter().map(|f| json!(f)));
            branches.push(json!({
                "type": "object",
                "title": format!("{name} distribution"),
                "properties": properties,
                "required": needed,
                "additionalProperties": false
            }));
        }
        json_schema!({
            "description": "Milliseconds: a number, or a distribution table such as { dist = \"exponential\", mean_ms = 3 }.",
            "anyOf": branches
        })
    }
}

fn distribution_field(name: &str) -> Value {
    match name {
        "samples_ms" => json!({ "type": "array", "items": { "type": "number", "minimum": 0 },
                                "description": "Measured values to resample (ms)." }),
        "file" => json!({ "type": "string",
                          "description": "A CSV file of measured ms (first field of each line), relative to the model file." }),
        "cv" => json!({ "type": "number", "exclusiveMinimum": 0,
                        "description": "Coefficient of variation (standard deviation ÷ mean)." }),
        "shape" => {
            json!({ "type": "number", "exclusiveMinimum": 0, "description": "Shape parameter." })
        }
        _ => json!({ "type": "number", "minimum": 0, "description": "Milliseconds." }),
    }
}

/// A service's `host`: one host's name, or a list its instances are spread over.
pub fn placement(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "The host its instances run on, or a list of hosts they are spread over (each new instance on the listed host with the fewest of them).",
        "anyOf": [
            { "type": "string" },
            { "type": "array", "items": { "type": "string" }, "minItems": 1, "uniqueItems": true }
        ]
    })
}

/// `calls`: stages of calls, each a route string or a `{ call, probability, count, async }` table.
pub fn calls(generator: &mut SchemaGenerator) -> Schema {
    let route = route(generator);
    let whole = json!({ "type": "integer", "minimum": 0 });
    let count = json!({
        "description": "Copies sent together: a whole number, { min, max } (uniform, inclusive) or { values, weights }.",
        "anyOf": [
            whole,
            { "type": "object", "properties": { "min": whole, "max": whole },
              "required": ["min", "max"], "additionalProperties": false },
            { "type": "object",
              "properties": { "values": { "type": "array", "items": whole, "minItems": 1 },
                              "weights": { "type": "array", "items": { "type": "number", "minimum": 0 } } },
              "required": ["values"], "additionalProperties": false }
        ]
    });
    let call = json!({
        "anyOf": [
            route,
            { "type": "object",
              "properties": {
                  "call": route,
                  "probability": { "type": "number", "exclusiveMinimum": 0, "maximum": 1,
                                   "description": "Chance, per call of the endpoint, that this call is made at all (default 1)." },
                  "count": count,
                  "async": { "type": "boolean",
                             "description": "Fire-and-forget: the caller does not wait and the callee sends no response (default false)." }
              },
              "required": ["call"], "additionalProperties": false }
        ]
    });
    json_schema!({
        "description": "Downstream calls in stages: [[\"user.get\"], [\"a.x\", \"b.y\"]] runs the stages one after another, the calls of a stage in parallel.",
        "type": "array",
        "items": { "type": "array", "items": call }
    })
}

/// A `"service.endpoint"` name.
pub fn route(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": "^[^.]+\\.[^.]+$",
        "description": "\"service.endpoint\""
    })
}

/// `sweep.vary`: model paths to SPEC strings or arrays of values.
pub fn sweep_vary(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Model paths to vary, each a SPEC (\"100:900:100\", \"log:10:1000:12\", \"1,2,4\") or an array of values.",
        "type": "object",
        "additionalProperties": {
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": ["number", "string", "boolean"] }, "minItems": 1 }
            ]
        }
    })
}

fn one_of_words(list: &[&str]) -> Schema {
    json_schema!({ "type": "string", "enum": list })
}

/// `workload.pattern.shape`.
pub fn pattern_shape(_: &mut SchemaGenerator) -> Schema {
    one_of_words(words::PATTERN_SHAPES)
}

/// `faults.N.kind`.
pub fn fault_kind(_: &mut SchemaGenerator) -> Schema {
    one_of_words(words::FAULT_KINDS)
}

/// `store.replication`.
pub fn replication(_: &mut SchemaGenerator) -> Schema {
    one_of_words(words::REPLICATIONS)
}

/// `store.key_distribution`.
pub fn key_distribution(_: &mut SchemaGenerator) -> Schema {
    one_of_words(words::KEY_DISTRIBUTIONS)
}

/// A store's `key_per`.
pub fn key_per(_: &mut SchemaGenerator) -> Schema {
    one_of_words(words::KEY_SCOPES)
}

/// Endpoint `op`.
pub fn store_op(_: &mut SchemaGenerator) -> Schema {
    one_of_words(words::STORE_OPS)
}

/// `deployments.N.strategy`.
pub fn strategy(_: &mut SchemaGenerator) -> Schema {
    one_of_words(words::STRATEGIES)
}

/// `retry.backoff`.
pub fn backoff(_: &mut SchemaGenerator) -> Schema {
    one_of_words(words::BACKOFFS)
}

/// `retry.jitter`.
pub fn jitter(_: &mut SchemaGenerator) -> Schema {
    one_of_words(words::JITTERS)
}

/// `autoscale.metric`.
pub fn scale_metric(_: &mut SchemaGenerator) -> Schema {
    one_of_words(words::SCALE_METRICS)
}

/// `retry.on`: a list of failure kinds.
pub fn retry_on(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "array", "items": { "type": "string", "enum": words::RETRY_ON } })
}
