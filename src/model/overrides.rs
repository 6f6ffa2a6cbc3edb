//! `--set PATH=VALUE`: edits to the model's TOML tree before it is deserialised.
//!
//! Editing the document (rather than the typed model) means every field is reachable by the same
//! dotted path a user sees in the file, with no per-field code, and the edited document goes
//! through exactly the same validation as a hand-edited file. `toml_edit` keeps the layout, so
//! error positions still match the file's lines.

use super::diagnostic::{Diagnostic, did_you_mean};
use super::raw::fields;
use std::fmt;
use std::str::FromStr;
use toml_edit::{DocumentMut, Item, Table, Value};

/// One `PATH=VALUE` override.
#[derive(Clone, Debug, PartialEq)]
pub struct Override {
    /// Keys from the root, e.g. `["services", "user", "instances"]`; array elements by index.
    pub path: Vec<String>,
    /// The value as typed: TOML (`3`, `true`, `"x"`, `{ dist = "constant", value_ms = 2 }`) or a
    /// bare word taken as a string.
    pub value: String,
}

impl FromStr for Override {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (path, value) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}` is not PATH=VALUE (e.g. services.user.instances=3)"))?;
        let path = path.trim();
        if path.is_empty() || path.split('.').any(|k| k.trim().is_empty()) {
            return Err(format!(
                "`{path}` is not a dotted path (e.g. workload.rate_per_s)"
            ));
        }
        Ok(Override {
            path: path.split('.').map(|k| k.trim().to_string()).collect(),
            value: value.trim().to_string(),
        })
    }
}

impl fmt::Display for Override {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.path.join("."), self.value)
    }
}

impl Override {
    /// The value as a TOML value; text that is not valid TOML is taken as a string.
    fn toml_value(&self) -> Value {
        self.value
            .parse::<Value>()
            .unwrap_or_else(|_| Value::from(self.value.as_str()))
    }
}

/// Applies `overrides` to the model text and returns the edited text.
pub fn apply(text: &str, file: &str, overrides: &[Override]) -> Result<String, Diagnostic> {
    if overrides.is_empty() {
        return Ok(text.to_string());
    }
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Diagnostic::from_serde(file, text, e.message(), e.span(), false)
    })?;
    for o in overrides {
        set(doc.as_table_mut(), o).map_err(|msg| {
            let mut d = Diagnostic::plain("", format!("--set {o}: {msg}"));
            let full = o.path.join(".");
            let valid = valid_paths(doc.as_table());
            d.help = match did_you_mean(&full, valid.iter().map(String::as_str)) {
                Some(best) => Some(format!("did you mean `{best}`?")),
                None => Some("paths follow the model file's tables, e.g. services.user.instances, links.gateway_user.latency_ms, workload.mix.0.weight".into()),
            };
            d
        })?;
    }
    Ok(doc.to_string())
}

/// Deserialises the model with `overrides` applied, when every one of them replaces a value
/// the file already has with a plain value (a number, string, boolean or date: a sweep's rate,
/// instances or latency), without going through `toml_edit`.
///
/// `apply` parses the text into an editable document, edits it and prints it for the loader
/// to parse once more: for a 5 MB model that is three passes over it (about 0.8 s) on every
/// load, and a sweep loads the model once per point. Here the loader's own tree is edited in
/// place: the value is the one `apply` would store (`Override::toml_value`, written out and
/// read back), at the place `apply` would store it (the same walk through tables, inline
/// tables and array elements). `None` whenever that is not certain — a path that adds a key or
/// replaces a table or array, text that does not parse, a model that does not deserialise —
/// and then the caller takes `apply`'s way, which also words every error.
pub(super) fn deserialize_edited<T: serde::de::DeserializeOwned>(
    text: &str,
    overrides: &[Override],
) -> Option<T> {
    use toml::de::{DeTable, DeValue, Deserializer};
    if overrides.is_empty() {
        return None;
    }
    let written: Vec<String> = overrides
        .iter()
        .map(|o| o.toml_value().to_string())
        .collect();
    let mut root = DeTable::parse(text).ok()?;
    for (o, written) in overrides.iter().zip(&written) {
        let value = DeValue::parse(written).ok()?.into_inner();
        *existing_plain_value(root.get_mut(), &o.path)?.get_mut() = value;
    }
    T::deserialize(Deserializer::from(root)).ok()
}

/// The text `apply` returns, made by writing each new value over the old one's characters
/// (`apply` keeps everything around a value it replaces), when every override replaces a
/// plain value the file has; `None` otherwise. `run` and `sweep` save the model they ran as
/// `model.toml`, and the editable document costs a large model a second and 100 MB.
fn splice(text: &str, overrides: &[Override]) -> Option<String> {
    let mut root = toml::de::DeTable::parse(text).ok()?;
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for o in overrides {
        let span = existing_plain_value(root.get_mut(), &o.path)?.span();
        // The last override of a value is the one that stays, as in `apply`.
        edits.retain(|(s, _)| *s != span);
        let mut value = o.toml_value();
        value.decor_mut().clear();
        edits.push((span, value.to_string()));
    }
    edits.sort_by_key(|(s, _)| s.start);
    let mut out = String::with_capacity(text.len() + 64);
    let mut at = 0;
    for (span, value) in edits {
        out.push_str(text.get(at..span.start)?);
        out.push_str(&value);
        at = span.end;
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// The model's text with `overrides` applied: `apply`'s result, made without `toml_edit`
/// where `splice` can.
pub fn edited_text(text: &str, file: &str, overrides: &[Override]) -> Result<String, Diagnostic> {
    if overrides.is_empty() {
        return Ok(text.to_string());
    }
    match splice(text, overrides) {
        Some(edited) => Ok(edited),
        None => apply(text, file, overrides),
    }
}

type Spanned<'i> = toml::Spanned<toml::de::DeValue<'i>>;

/// The plain (not table, not array) value at `path` in the loader's tree, if there is one.
fn existing_plain_value<'a, 'i>(
    root: &'a mut toml::de::DeTable<'i>,
    path: &[String],
) -> Option<&'a mut Spanned<'i>> {
    use toml::de::DeValue;
    let (last, parents) = path.split_last()?;
    let value = match parents.first() {
        None => root.get_mut(last.as_str())?,
        Some(first) => {
            let mut node = root.get_mut(first.as_str())?;
            for key in &parents[1..] {
                node = child(node, key)?;
            }
            child(node, last)?
        }
    };
    match value.get_ref() {
        DeValue::Table(_) | DeValue::Array(_) => None,
        _ => Some(value),
    }
}

/// The value under `key` in a table (a key) or an array (an index).
fn child<'a, 'i>(node: &'a mut Spanned<'i>, key: &str) -> Option<&'a mut Spanned<'i>> {
    use toml::de::DeValue;
    match node.get_mut() {
        DeValue::Table(t) => t.get_mut(key),
        DeValue::Array(a) => a.get_mut(key.parse::<usize>().ok()?),
        _ => None,
    }
}

/// The fields a table at `path` may hold, if meshsim knows that kind of table.
fn allowed_fields(path: &[String]) -> Option<&'static [&'static str]> {
    let keys: Vec<&str> = path.iter().map(String::as_str).collect();
    match keys.as_slice() {
        [] => Some(fields::MODEL),
        ["simulation"] => Some(fields::SIMULATION),
        ["workload"] => Some(fields::WORKLOAD),
        ["workload", "mix", _] => Some(fields::MIX),
        ["gateway"] => Some(fields::GATEWAY),
        ["services", _] => Some(fields::SERVICE),
        ["services", _, "endpoints", _] => Some(fields::ENDPOINT),
        ["links", _] => Some(fields::LINK),
        ["hosts", _] => Some(fields::HOST),
        ["sweep"] => Some(fields::SWEEP),
        ["workload", "pattern"] => Some(fields::PATTERN),
        ["faults", _] => Some(fields::FAULT),
        ["cost"] => Some(fields::COST),
        ["gateway" | "services", ..] if keys.last() == Some(&"client") => Some(fields::CLIENT),
        [.., "client", "to", _] => Some(fields::CLIENT),
        [.., "retry"] => Some(fields::RETRY),
        [.., "circuit_breaker"] => Some(fields::BREAKER),
        [.., "rate_limit"] => Some(fields::RATE_LIMIT),
        ["services", _, "autoscale"] => Some(fields::AUTOSCALE),
        ["services", _, "health_check"] => Some(fields::HEALTH_CHECK),
        ["services", _, "discovery"] => Some(fields::DISCOVERY),
        ["services", _, "store"] => Some(fields::STORE),
        ["gateway" | "services", .., "cpu_after_idle"] => Some(fields::CPU_AFTER_IDLE),
        [.., "outlier_detection"] => Some(fields::OUTLIER),
        ["deployments", _] => Some(fields::DEPLOYMENT),
        ["deployments", _, "rollback"] => Some(fields::ROLLBACK),
        [
            ..,
            "service_ms" | "think_ms" | "latency_ms" | "cpu_ms" | "replica_ms"
            | "replication_lag_ms",
        ] => Some(fields::DIST),
        _ => None,
    }
}

/// Sets one override in the tree, refusing paths that name no existing or allowed field.
fn set(root: &mut Table, o: &Override) -> Result<(), String> {
    let (last, parents) = o.path.split_last().expect("paths are non-empty");
    // A host may be added from the command line: `--set hosts.node.cores=4`.
    if let [hosts, name] = parents
        && hosts == "hosts"
        && fields::HOST.contains(&last.as_str())
    {
        let table = root
            .entry("hosts")
            .or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(true);
                toml_edit::Item::Table(t)
            })
            .as_table_mut()
            .ok_or("`hosts` is not a table")?;
        if !table.contains_key(name) {
            table.insert(name, toml_edit::Item::Table(Table::new()));
        }
    }
    let mut here: Slot = Slot::Table(root);
    for (depth, key) in parents.iter().enumerate() {
        if !here.has(key) && creatable(&parents[..depth], key) {
            here.add_table(key);
        }
        here = here.child(key).ok_or_else(|| {
            format!(
                "unknown path: `{}` does not exist",
                o.path[..=depth].join(".")
            )
        })?;
    }
    let value = o.toml_value();
    let exists = here.has(last);
    let allowed = allowed_fields(parents).is_some_and(|f| f.contains(&last.as_str()));
    if !exists && !allowed {
        return Err(format!(
            "unknown path: `{}` is not a field of the model",
            o.path.join(".")
        ));
    }
    here.put(last, value)
}

/// Whether a table `key` that the document lacks may be made under `parent` for a `--set`
/// below it: the parent may hold it, and meshsim knows what it holds (e.g. `--set
/// services.api.client.timeout_ms=30` on a service without a `client` table; `client.to`, the
/// table of per-callee tables, too).
fn creatable(parent: &[String], key: &str) -> bool {
    let mut path = parent.to_vec();
    path.push(key.to_string());
    if allowed_fields(&path).is_none() {
        path.push(String::new());
        if allowed_fields(&path).is_none() {
            return false;
        }
    }
    // A field of its parent, or a callee's entry in `client.to` (any name: a callee that
    // does not exist is refused by validation, with its position).
    allowed_fields(parent).is_some_and(|f| f.contains(&key))
        || parent.len() >= 2
            && parent[parent.len() - 2] == "client"
            && parent[parent.len() - 1] == "to"
}

/// A mutable place in the tree that can hold keys.
enum Slot<'a> {
    Table(&'a mut Table),
    Inline(&'a mut toml_edit::InlineTable),
    Array(&'a mut toml_edit::Array),
    Tables(&'a mut toml_edit::ArrayOfTables),
}

impl<'a> Slot<'a> {
    fn from_item(item: &'a mut Item) -> Option<Slot<'a>> {
        match item {
            Item::Table(t) => Some(Slot::Table(t)),
            Item::ArrayOfTables(a) => Some(Slot::Tables(a)),
            Item::Value(v) => Slot::from_value(v),
            Item::None => None,
        }
    }

    fn from_value(value: &'a mut Value) -> Option<Slot<'a>> {
        match value {
            Value::InlineTable(t) => Some(Slot::Inline(t)),
            Value::Array(a) => Some(Slot::Array(a)),
            _ => None,
        }
    }

    fn child(self, key: &str) -> Option<Slot<'a>> {
        match self {
            Slot::Table(t) => Slot::from_item(t.get_mut(key)?),
            Slot::Inline(t) => Slot::from_value(t.get_mut(key)?),
            Slot::Array(a) => Slot::from_value(a.get_mut(key.parse().ok()?)?),
            Slot::Tables(a) => a.get_mut(key.parse().ok()?).map(Slot::Table),
        }
    }

    fn has(&self, key: &str) -> bool {
        match self {
            Slot::Table(t) => t.contains_key(key),
            Slot::Inline(t) => t.contains_key(key),
            Slot::Array(a) => key.parse::<usize>().is_ok_and(|i| i < a.len()),
            Slot::Tables(_) => false,
        }
    }

    /// Adds an empty table under `key` (inline in an inline table; nothing in an array).
    fn add_table(&mut self, key: &str) {
        match self {
            Slot::Table(t) => {
                let mut table = Table::new();
                table.set_implicit(true);
                t.insert(key, Item::Table(table));
            }
            Slot::Inline(t) => {
                t.insert(key, Value::InlineTable(toml_edit::InlineTable::new()));
            }
            Slot::Array(_) | Slot::Tables(_) => {}
        }
    }

    /// Stores `value` under `key`, keeping the old value's comments and spacing.
    fn put(self, key: &str, mut value: Value) -> Result<(), String> {
        match self {
            // An existing value is replaced where it stands: `insert` would also replace its
            // key, and with the key the comment lines above it (and every later line number).
            Slot::Table(t) => match t.get_mut(key) {
                Some(Item::Value(old)) => {
                    *value.decor_mut() = old.decor().clone();
                    *old = value;
                }
                Some(_) => {
                    return Err(format!("`{key}` is a table; set one of its fields instead"));
                }
                None => {
                    t.insert(key, Item::Value(value));
                }
            },
            Slot::Inline(t) => match t.get_mut(key) {
                Some(old) => {
                    *value.decor_mut() = old.decor().clone();
                    *old = value;
                }
                None => {
                    t.insert(key, value);
                }
            },
            Slot::Array(a) => {
                let i: usize = key
                    .parse()
                    .map_err(|_| format!("`{key}` is not an array index"))?;
                if i >= a.len() {
                    return Err(format!(
                        "index {i} is out of range (the array has {} elements)",
                        a.len()
                    ));
                }
                a.replace(i, value);
            }
            Slot::Tables(_) => return Err("name an element's field, e.g. mix.0.weight".into()),
        }
        Ok(())
    }
}

/// Every path a `--set` could name in this document: existing values and allowed fields.
fn valid_paths(root: &Table) -> Vec<String> {
    let mut out = Vec::new();
    collect_table(root, &mut Vec::new(), &mut out);
    out
}

fn collect_table(table: &Table, path: &mut Vec<String>, out: &mut Vec<String>) {
    for field in allowed_fields(path).unwrap_or_default() {
        push_path(path, field, out);
    }
    for (key, item) in table.iter() {
        push_path(path, key, out);
        path.push(key.to_string());
        match item {
            Item::Table(t) => collect_table(t, path, out),
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter().enumerate() {
                    path.push(i.to_string());
                    collect_table(t, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
        path.pop();
    }
}

fn push_path(path: &[String], key: &str, out: &mut Vec<String>) {
    let mut p = path.join(".");
    if !p.is_empty() {
        p.push('.');
    }
    p.push_str(key);
    if !out.contains(&p) {
        out.push(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "[workload]\ntype = \"open\"\nrate_per_s = 400 # req/s\n[[workload.mix]]\nroute = \"a.b\"\n[services.user]\nworkers = 2\n[services.user.endpoints.get]\nservice_ms = { dist = \"exponential\", mean_ms = 3 }\n";

    fn apply_one(s: &str) -> Result<String, Diagnostic> {
        apply(TEXT, "m.toml", &[s.parse().unwrap()])
    }

    #[test]
    fn replaces_values_keeping_layout() {
        let out = apply_one("workload.rate_per_s=800").unwrap();
        assert!(out.contains("rate_per_s = 800 # req/s"), "{out}");
        assert_eq!(out.lines().count(), TEXT.lines().count());
        let out = apply_one("services.user.endpoints.get.service_ms.mean_ms=5").unwrap();
        assert!(out.contains("mean_ms = 5"), "{out}");
        let out = apply_one("workload.mix.0.weight=2").unwrap();
        assert!(out.contains("weight = 2"), "{out}");
        let out = apply_one("services.user.load_balancer=random").unwrap();
        assert!(out.contains("load_balancer = \"random\""), "{out}");
        // Comment lines above a replaced key stay (later errors point at the file's lines).
        let text =
            "# Requests per second.\n# (measured)\nrate_per_s = 1\n[t]\n# two\nx = { y = 1 }\n";
        let sets = ["rate_per_s=2".parse().unwrap(), "t.x.y=3".parse().unwrap()];
        let out = apply(text, "m.toml", &sets).unwrap();
        assert_eq!(
            out,
            text.replace("= 1\n", "= 2\n").replace("y = 1", "y = 3")
        );
    }

    /// Every plain value of `value`, with its path.
    fn plain_values(
        value: &toml::Value,
        path: &mut Vec<String>,
        out: &mut Vec<(Vec<String>, toml::Value)>,
    ) {
        let mut visit = |key: String, v: &toml::Value, path: &mut Vec<String>| {
            path.push(key);
            plain_values(v, path, out);
            path.pop();
        };
        match value {
            toml::Value::Table(t) => t.iter().for_each(|(k, v)| visit(k.clone(), v, path)),
            toml::Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| visit(i.to_string(), v, path)),
            plain => out.push((path.clone(), plain.clone())),
        }
    }

    /// Each plain value of every shipped model, overridden with another, gives through the
    /// loader's tree the very model that `apply`'s edited text gives.
    #[test]
    fn the_loaders_tree_takes_the_edits_apply_makes() {
        use crate::model::raw::RawModel;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let (mut same, mut refused) = (0, 0);
        for entry in std::fs::read_dir(dir).unwrap() {
            let file = entry.unwrap().path();
            if file.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap();
            let mut values = Vec::new();
            plain_values(
                &toml::from_str(&text).unwrap(),
                &mut Vec::new(),
                &mut values,
            );
            for (path, old) in values {
                let value = match old {
                    toml::Value::Integer(i) => (i + 1).to_string(),
                    toml::Value::Float(f) => format!("{:?}", f * 1.5 + 0.25),
                    toml::Value::Boolean(b) => (!b).to_string(),
                    // Unquoted, so taken as a string: names deserialise, kinds (`dist`,
                    // `type`) are refused either way.
                    toml::Value::String(s) => format!("{s}_"),
                    other => other.to_string(),
                };
                let o = Override { path, value };
                let edited = apply(&text, "m.toml", std::slice::from_ref(&o)).unwrap();
                assert_eq!(
                    splice(&text, std::slice::from_ref(&o)).as_ref(),
                    Some(&edited),
                    "{o}"
                );
                let slow = toml::from_str::<RawModel>(&edited);
                match deserialize_edited::<RawModel>(&text, std::slice::from_ref(&o)) {
                    Some(fast) => {
                        assert_eq!(
                            format!("{fast:?}"),
                            format!("{:?}", slow.unwrap()),
                            "{}: {o}",
                            file.display()
                        );
                        same += 1;
                    }
                    None => {
                        assert!(
                            slow.is_err(),
                            "{}: {o} deserialises, but not through the loader's tree",
                            file.display()
                        );
                        refused += 1;
                    }
                }
            }
        }
        assert!(
            same > 900 && refused > 10,
            "{same} the same, {refused} refused by both"
        );
    }

    #[test]
    fn several_edits_write_the_text_apply_writes() {
        let sets: Vec<Override> = [
            "services.user.workers=4",
            "workload.rate_per_s=1e3",
            "services.user.endpoints.get.service_ms.mean_ms=2.5",
            "workload.rate_per_s=0x20",
            "workload.mix.0.route=it's \\ \"quoted\"",
            "workload.type=closed",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let edited = apply(TEXT, "m.toml", &sets).unwrap();
        assert_eq!(splice(TEXT, &sets), Some(edited.clone()));
        assert!(edited.contains("rate_per_s = 0x20 # req/s"), "{edited}");
        // A table made by `apply`: not a splice.
        let made: Override = "services.user.client.timeout_ms=30".parse().unwrap();
        assert_eq!(splice(TEXT, std::slice::from_ref(&made)), None);
        assert_eq!(
            edited_text(TEXT, "m.toml", std::slice::from_ref(&made)).unwrap(),
            apply(TEXT, "m.toml", &[made]).unwrap()
        );
    }

    #[test]
    fn edits_beyond_plain_values_are_left_to_apply() {
        let model = |s: &str| deserialize_edited::<toml::Table>(TEXT, &[s.parse().unwrap()]);
        let rate = model("workload.rate_per_s=800").unwrap();
        assert_eq!(rate["workload"]["rate_per_s"].as_integer(), Some(800));
        let mean = model("services.user.endpoints.get.service_ms.mean_ms=5").unwrap();
        let endpoint = &mean["services"]["user"]["endpoints"]["get"];
        assert_eq!(endpoint["service_ms"]["mean_ms"].as_integer(), Some(5));
        let route = model("workload.mix.0.route=c.d").unwrap();
        assert_eq!(route["workload"]["mix"][0]["route"].as_str(), Some("c.d"));
        // A key the file lacks, a table, an array element's table, no such index.
        for s in [
            "services.user.client.timeout_ms=30",
            "services.user.endpoints.get.service_ms=2",
            "workload.mix.0=1",
            "workload.mix.1.weight=2",
            "workload.rate_per_s.x=1",
        ] {
            assert!(model(s).is_none(), "{s}");
        }
    }

    #[test]
    fn unknown_paths_name_the_closest_valid_one() {
        let err = apply_one("services.user.wrokers=3").unwrap_err();
        assert!(err.message.contains("unknown path"), "{}", err.message);
        assert_eq!(
            err.help.as_deref(),
            Some("did you mean `services.user.workers`?")
        );
        let err = apply_one("servics.user.workers=3").unwrap_err();
        assert!(err.help.unwrap().contains("services.user.workers"));
    }

    #[test]
    fn known_tables_a_model_lacks_are_made() {
        let sets: Vec<Override> = [
            "services.user.client.timeout_ms=30",
            "services.user.client.retry.max_attempts=3",
            "services.user.client.to.db.timeout_ms=10",
            "services.user.health_check.interval_ms=500",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let out = apply(TEXT, "m.toml", &sets).unwrap();
        let doc: toml::Table = toml::from_str(&out).unwrap();
        let user = &doc["services"]["user"];
        assert_eq!(user["client"]["timeout_ms"].as_integer(), Some(30));
        assert_eq!(
            user["client"]["retry"]["max_attempts"].as_integer(),
            Some(3)
        );
        assert_eq!(
            user["client"]["to"]["db"]["timeout_ms"].as_integer(),
            Some(10)
        );
        assert_eq!(user["health_check"]["interval_ms"].as_integer(), Some(500));
        // Only tables meshsim knows: a made-up one is still refused.
        assert!(apply_one("services.user.clinet.timeout_ms=30").is_err());
        assert!(apply_one("services.user.client.nonsense.x=1").is_err());
    }

    #[test]
    fn malformed_overrides_are_refused() {
        assert!("no_equals".parse::<Override>().is_err());
        assert!("a..b=1".parse::<Override>().is_err());
        assert!("=1".parse::<Override>().is_err());
    }
}
