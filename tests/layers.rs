//! The codebase's layering, enforced: a module may use only modules below it in [`LAYERS`] (the
//! order written down in `src/lib.rs` and `docs/architecture.md`). A dependency upwards would
//! make a cycle possible; this test names the file and line that introduce one.
//!
//! Run alone with `cargo test --test layers`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Bottom first. Keep in step with the table in `src/lib.rs`.
const LAYERS: &[&str] = &[
    "output",
    "engine",
    "stats",
    "model",
    "error",
    "sim",
    "analysis",
    "cost",
    "traces",
    "validation",
    "report",
    "planning",
    "sweep",
    "measured",
    "chart",
    "cli",
];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`src/sim/call.rs` → `sim`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main" && name != "bin").then(|| name.to_string())
}

/// The top-level modules a line of code names through `crate::` (also inside `use crate::{…}`).
fn modules_named(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        } else {
            out.push(
                rest.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect(),
            );
        }
    }
    out.retain(|n| !n.is_empty());
    out
}

/// Each module's uses of other modules: (used module, file:line).
fn dependencies() -> BTreeMap<String, Vec<(String, String)>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut deps: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for file in files {
        let Some(module) = module_of(&src, &file) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            // Unit tests may reach anywhere; by convention they close the file.
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            if line.trim_start().starts_with("//") {
                continue;
            }
            for used in modules_named(line) {
                if used != module {
                    let place = format!("{}:{}", file.strip_prefix(root).unwrap().display(), n + 1);
                    deps.entry(module.clone()).or_default().push((used, place));
                }
            }
        }
    }
    deps
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut upward = Vec::new();
    for (module, uses) in dependencies() {
        let Some(r) = rank(&module) else {
            upward.push(format!(
                "module `{module}` is not in LAYERS: give it a place"
            ));
            continue;
        };
        for (used, place) in uses {
            match rank(&used) {
                Some(u) if u < r => {}
                Some(_) => upward.push(format!(
                    "{place}: `{module}` uses `{used}`, a layer above it"
                )),
                None => upward.push(format!("{place}: `{module}` uses `{used}`, not in LAYERS")),
            }
        }
    }
    assert!(upward.is_empty(), "layering broken:\n{}", upward.join("\n"));
}

#[test]
fn every_layer_is_a_module_of_the_crate() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for layer in LAYERS {
        assert!(
            src.join(format!("{layer}.rs")).exists() || src.join(layer).join("mod.rs").exists(),
            "LAYERS names `{layer}`, which src/ does not have"
        );
    }
}

#[test]
fn the_scanner_sees_grouped_and_plain_uses() {
    assert_eq!(
        modules_named("use crate::{analysis, report::x, sim};"),
        ["analysis", "report", "sim"]
    );
    assert_eq!(
        modules_named("let r = crate::sim::simulate(&crate::model::x);"),
        ["sim", "model"]
    );
    assert!(modules_named("use super::call;").is_empty());
}
