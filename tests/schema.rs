//! `meshsim schema`: the JSON Schema editors check models with. Every shipped model must pass it
//! (or users see red squiggles on a valid file), broken models must fail it in the field that is
//! wrong, and `meshsim init` must point its model at the schema it writes beside it.

use std::path::Path;
use std::process::Command;

fn meshsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .args(args)
        .output()
        .expect("meshsim runs")
}

fn schema() -> jsonschema::Validator {
    let out = meshsim(&["schema"]);
    assert!(out.status.success(), "meshsim schema failed");
    let schema: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// A TOML model as the JSON an editor's validator sees.
fn as_json(text: &str) -> serde_json::Value {
    let value: toml::Value = toml::from_str(text).expect("valid TOML");
    serde_json::to_value(value).expect("TOML converts to JSON")
}

/// The messages of every schema violation, with where they are.
fn violations(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    let json = as_json(text);
    validator
        .iter_errors(&json)
        .map(|e| format!("{}: {}", e.instance_path(), e))
        .collect()
}

#[test]
fn every_shipped_model_satisfies_the_schema() {
    let validator = schema();
    let mut checked = 0;
    for entry in std::fs::read_dir("models").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let problems = violations(&validator, &text);
            assert!(problems.is_empty(), "{}: {problems:#?}", path.display());
            checked += 1;
        }
    }
    let builtin = violations(&validator, meshsim::model::BUILTIN_MODEL);
    assert!(builtin.is_empty(), "built-in model: {builtin:#?}");
    assert!(checked >= 10, "only {checked} models found");
}

const SMALL: &str = r#"
[simulation]
duration_s = 60

[workload]
type = "open"
rate_per_s = 100

[[workload.mix]]
route = "api.get"

[gateway]

[services.api.endpoints.get]
service_ms = { dist = "exponential", mean_ms = 5 }
calls = [[{ call = "db.query", probability = 0.3, count = { min = 1, max = 3 } }]]

[services.db.endpoints.query]
service_ms = 2
"#;

#[test]
fn broken_models_fail_the_schema_where_the_loader_fails_them() {
    let validator = schema();
    assert!(
        violations(&validator, SMALL).is_empty(),
        "the base model is valid"
    );
    let broken = [
        // (what is changed, replaced by, the path the schema must name)
        ("rate_per_s = 100", "rate = 100", "/workload"),
        // Above one arrival a nanosecond, the clock's tick.
        (
            "rate_per_s = 100",
            "rate_per_s = 2e9",
            "/workload/rate_per_s",
        ),
        ("type = \"open\"", "type = \"opne\"", "/workload/type"),
        (
            "duration_s = 60",
            "duration_s = \"60\"",
            "/simulation/duration_s",
        ),
        (
            "mean_ms = 5",
            "mean = 5",
            "/services/api/endpoints/get/service_ms",
        ),
        (
            "\"exponential\"",
            "\"expo\"",
            "/services/api/endpoints/get/service_ms",
        ),
        (
            "probability = 0.3",
            "probability = 1.5",
            "/services/api/endpoints/get/calls/0/0",
        ),
        (
            "route = \"api.get\"",
            "route = \"api\"",
            "/workload/mix/0/route",
        ),
        ("[gateway]", "[gateway]\nworkers = 0", "/gateway/workers"),
        (
            "service_ms = 2",
            "service_ms = -2",
            "/services/db/endpoints/query/service_ms",
        ),
    ];
    for (from, to, path) in broken {
        let text = SMALL.replacen(from, to, 1);
        assert_ne!(text, SMALL, "{from} is in the base model");
        let problems = violations(&validator, &text);
        assert!(
            problems.iter().any(|p| p.starts_with(path)),
            "`{to}` should fail the schema at {path}; got {problems:#?}"
        );
        // The schema describes what the loader accepts: the loader refuses these too.
        let loaded = meshsim::model::load_str(&text, "broken.toml", Path::new("."), &[]);
        assert!(loaded.is_err(), "the loader accepted `{to}`");
    }
}

#[test]
fn the_schema_describes_every_field_for_the_editor() {
    let out = meshsim(&["schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut missing = Vec::new();
    for (name, definition) in schema["definitions"].as_object().unwrap() {
        for (field, property) in definition["properties"].as_object().into_iter().flatten() {
            if property.get("description").is_none() {
                missing.push(format!("{name}.{field}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:?}"
    );
}

#[test]
fn init_points_the_model_at_the_schema_it_writes() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("mine.toml");
    let out = meshsim(&["init", model.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&model).unwrap();
    assert!(
        text.starts_with("#:schema ./meshsim.schema.json\n"),
        "first line: {:?}",
        text.lines().next()
    );
    let written = std::fs::read(dir.path().join("meshsim.schema.json")).unwrap();
    assert_eq!(written, meshsim(&["schema"]).stdout);
    // The comment does not stop the model from loading, and the model satisfies its schema.
    let check = meshsim(&["check", model.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(violations(&schema(), &text).is_empty());
}

#[test]
fn the_scale_benchmarks_models_load_and_satisfy_the_schema() {
    let validator = schema();
    for name in ["deep", "fan", "wide", "narrow"] {
        let path = format!("{}/benches/models/{name}.toml", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(violations(&validator, &text).is_empty(), "{path}");
        meshsim::model::load_str(&text, &path, Path::new("."), &[])
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
