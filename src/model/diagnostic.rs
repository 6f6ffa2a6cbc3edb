//! Errors in a model, rendered with file, line, column, the offending line, and a hint.

use std::fmt;
use std::ops::Range;
use toml_edit::{Item, Table, Value};

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read model file `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// The model is malformed or meaningless; the diagnostic says where and why.
    #[error("{0}")]
    Invalid(Box<Diagnostic>),
}

impl From<Diagnostic> for ModelError {
    fn from(d: Diagnostic) -> Self {
        ModelError::Invalid(Box::new(d))
    }
}

/// A semantic error found by validation, located by its dotted path in the TOML tree.
#[derive(Debug)]
pub struct Invalid {
    /// Keys from the root to the offending value, e.g. `["services", "user", "workers"]`.
    pub path: Vec<String>,
    pub message: String,
    pub help: Option<String>,
}

impl Invalid {
    /// An error at `path` (dotted, e.g. `services.user.workers`).
    pub fn at(path: &str, message: impl Into<String>) -> Invalid {
        Invalid {
            path: path.split('.').map(str::to_string).collect(),
            message: message.into(),
            help: None,
        }
    }

    /// Adds a hint saying what is allowed or what to do.
    pub fn help(mut self, help: impl Into<String>) -> Invalid {
        self.help = Some(help.into());
        self
    }
}

/// A located, human-readable error about a model file or a command-line override.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub file: String,
    pub location: Option<Location>,
    pub message: String,
    pub help: Option<String>,
}

/// A position in a file, with the text of its line for display.
#[derive(Debug, Clone)]
pub struct Location {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    pub line_text: String,
    /// Width of the underline, in characters.
    pub width: usize,
}

impl Diagnostic {
    /// A diagnostic with no position (for example about a command-line argument).
    pub fn plain(file: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_string(),
            location: None,
            message: message.into(),
            help: None,
        }
    }

    /// From a TOML syntax or serde shape error. Unknown fields and variants get a "did you mean".
    pub fn from_serde(
        file: &str,
        text: &str,
        message: &str,
        span: Option<Range<usize>>,
        overridden: bool,
    ) -> Diagnostic {
        let message = message.trim().to_string();
        let help = suggest_from_serde_message(&message);
        let mut d = Diagnostic {
            file: file.to_string(),
            location: span.map(|s| Location::of(text, s)),
            message,
            help,
        };
        d.in_plain_words();
        d.note_overrides(overridden);
        d
    }

    /// Rewrites serde's wording for a user who writes TOML, not Rust: a missing table or field
    /// says what is missing and the smallest text that adds it (and does not point at a comment
    /// on line 1), and a type error names the field, what it holds and an example.
    fn in_plain_words(&mut self) {
        if let Some(field) = quoted_after(&self.message, "missing field `").map(str::to_string) {
            let field = field.as_str();
            let top_level = TOP_LEVEL.contains(&field);
            let table = self
                .location
                .as_ref()
                .map(|l| l.line_text.trim().to_string())
                .filter(|t| t.starts_with('[') && !t.starts_with("[["));
            self.message = match &table {
                _ if top_level => format!(
                    "the model has no `[{field}]` table, which every model needs (required: [simulation], [workload] with a [[workload.mix]], [gateway], [services.NAME.endpoints.ENDPOINT])"
                ),
                Some(table) => format!("`{table}` has no `{field}`, which it needs"),
                None => format!("missing `{field}`, which is required here"),
            };
            if top_level {
                self.location = None;
            }
            let fix = match (field, &table) {
                ("endpoints", Some(t)) => Some(format!(
                    "{}.endpoints.ENDPOINT]\nservice_ms = 5",
                    t.trim_end_matches(']')
                )),
                _ => smallest_fix(field).map(str::to_string),
            };
            if let Some(fix) = fix {
                self.help = Some(format!("add it, e.g.\n\n{fix}\n"));
            }
            return;
        }
        let Some(rest) = self.message.strip_prefix("invalid type: ") else {
            return;
        };
        let Some((found, expected)) = rest.split_once(", expected ") else {
            return;
        };
        let key = self
            .location
            .as_ref()
            .and_then(|l| l.line_text.split_once('='))
            .map(|(k, _)| k.trim().trim_matches('"').to_string());
        let (kind, example) = match expected {
            "f64" | "f32" | "a number" => ("a number", "30"),
            e if e.starts_with('i') || e.starts_with('u') || e.contains("integer") => {
                ("a whole number", "4")
            }
            "a boolean" => ("true or false", "true"),
            "a string" => ("text in quotes", "\"…\""),
            "a sequence" => ("a list", "[…]"),
            _ => return,
        };
        let Some(key) = key.filter(|k| !k.is_empty() && !k.contains(' ')) else {
            self.message = format!("expected {kind} here, found {found}");
            return;
        };
        self.message = format!(
            "`{key}` is {kind}{}, e.g. `{key} = {example}`; found {found}",
            unit_of(&key)
        );
    }

    /// From a validation error, located by its path in `text`.
    pub fn from_invalid(file: &str, text: &str, invalid: Invalid, overridden: bool) -> Diagnostic {
        let location = toml_edit::Document::parse(text)
            .ok()
            .and_then(|doc| locate(doc.as_table(), &invalid.path))
            .map(|span| Location::of(text, span));
        let mut d = Diagnostic {
            file: file.to_string(),
            location,
            message: format!("{}: {}", invalid.path.join("."), invalid.message),
            help: invalid.help,
        };
        d.note_overrides(overridden);
        d
    }

    fn note_overrides(&mut self, overridden: bool) {
        if overridden && self.help.is_none() {
            self.help = Some("the model was changed by --set before this check".into());
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if self.location.is_some() || !self.file.is_empty() {
            writeln!(f)?;
        }
        match &self.location {
            Some(loc) => {
                writeln!(f, "  --> {}:{}:{}", self.file, loc.line, loc.column)?;
                let gutter = loc.line.to_string().len();
                writeln!(f, "{:gutter$} |", "")?;
                writeln!(f, "{} | {}", loc.line, loc.line_text)?;
                write!(
                    f,
                    "{:gutter$} | {}{}",
                    "",
                    " ".repeat(loc.column - 1),
                    "^".repeat(loc.width.max(1))
                )?;
            }
            None if self.file.is_empty() => {}
            None => write!(f, "  --> {}", self.file)?,
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl Location {
    /// The line and column of byte range `span` in `text`.
    fn of(text: &str, span: Range<usize>) -> Location {
        let start = span.start.min(text.len());
        let start = (0..=start)
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(0);
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line_text = text[line_start..line_end]
            .trim_end_matches('\r')
            .to_string();
        let column = text[line_start..start].chars().count() + 1;
        let end = span.end.clamp(start, line_end);
        let end = (end..=line_end)
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(line_end);
        Location {
            line: text[..start].matches('\n').count() + 1,
            column,
            line_text,
            width: text[start..end].chars().count(),
        }
    }
}

/// The model's required top-level tables.
const TOP_LEVEL: &[&str] = &["simulation", "workload", "gateway", "services"];

/// The text between `prefix` and the next backtick.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message.strip_prefix(prefix)?.split('`').next()
}

/// The smallest text that adds a required table or field, by its name.
fn smallest_fix(field: &str) -> Option<&'static str> {
    Some(match field {
        "simulation" => "[simulation]\nduration_s = 60",
        "workload" => {
            "[workload]\ntype = \"open\"\nrate_per_s = 100\n\n[[workload.mix]]\nroute = \"SERVICE.ENDPOINT\""
        }
        "gateway" => "[gateway]\nworkers = 1",
        "services" => "[services.api.endpoints.get]\nservice_ms = 5",
        "endpoints" => "[services.NAME.endpoints.ENDPOINT]\nservice_ms = 5",
        "duration_s" => "duration_s = 60",
        "type" => "type = \"open\"      # or \"closed\"",
        "mix" => "[[workload.mix]]\nroute = \"SERVICE.ENDPOINT\"",
        "route" => "route = \"SERVICE.ENDPOINT\"",
        "service_ms" => "service_ms = 5      # or { dist = \"exponential\", mean_ms = 5 }",
        "between" => "between = [\"gateway\", \"SERVICE\"]",
        _ => return None,
    })
}

/// " (seconds)" and the like, from a field name's unit suffix.
fn unit_of(key: &str) -> &'static str {
    if key.ends_with("_per_s") {
        " (per second)"
    } else if key.ends_with("_ms") {
        " (milliseconds)"
    } else if key.ends_with("_s") {
        " (seconds)"
    } else if key.ends_with("_bytes") {
        " (bytes)"
    } else if key.ends_with("_mbps") {
        " (Mbit/s)"
    } else if key.ends_with("_km") {
        " (kilometres)"
    } else {
        ""
    }
}

/// The closest candidate to `name`, if one is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let limit = (name.chars().count() / 3).max(2);
    let candidates: Vec<&str> = candidates.into_iter().collect();
    // A field the name begins (`rate` for `rate_per_s`) is what the user meant more often than
    // any field a few letters away.
    if name.chars().count() >= 3
        && let Some(c) = candidates
            .iter()
            .filter(|c| c.starts_with(name) && c.len() > name.len())
            .min_by_key(|c| c.len())
    {
        return Some(c.to_string());
    }
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

/// Turns serde's "unknown field `x`, expected one of `a`, `b`" into a suggestion.
fn suggest_from_serde_message(message: &str) -> Option<String> {
    let kind = if message.starts_with("unknown field") {
        "field"
    } else if message.starts_with("unknown variant") {
        "value"
    } else {
        return None;
    };
    let mut quoted = message.split('`').skip(1).step_by(2);
    let name = quoted.next()?;
    let allowed: Vec<&str> = quoted.collect();
    let list = allowed.join(", ");
    match did_you_mean(name, allowed.iter().copied()) {
        Some(best) => Some(format!("did you mean `{best}`? allowed {kind}s: {list}")),
        None => Some(format!("allowed {kind}s: {list}")),
    }
}

/// A node of the TOML tree, whichever concrete type `toml_edit` gives it.
#[derive(Clone, Copy)]
enum Node<'a> {
    Item(&'a Item),
    Value(&'a Value),
    Table(&'a Table),
}

impl<'a> Node<'a> {
    fn child(self, key: &str) -> Option<Node<'a>> {
        match self {
            Node::Table(t) => t.get(key).map(Node::Item),
            Node::Item(Item::Table(t)) => t.get(key).map(Node::Item),
            Node::Item(Item::Value(v)) | Node::Value(v) => match v {
                Value::InlineTable(t) => t.get(key).map(Node::Value),
                Value::Array(a) => a.get(key.parse().ok()?).map(Node::Value),
                _ => None,
            },
            Node::Item(Item::ArrayOfTables(a)) => a.get(key.parse().ok()?).map(Node::Table),
            Node::Item(Item::None) => None,
        }
    }

    fn span(self) -> Option<Range<usize>> {
        match self {
            Node::Item(i) => i.span(),
            Node::Value(v) => v.span(),
            Node::Table(t) => t.span(),
        }
    }
}

/// The span of the deepest node on `path` that exists (the value itself when it does).
fn locate(root: &Table, path: &[String]) -> Option<Range<usize>> {
    let mut node = Node::Table(root);
    let mut best = None;
    for key in path {
        match node.child(key) {
            Some(next) => {
                node = next;
                best = next.span().or(best);
            }
            None => break,
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_values_and_renders_line_and_column() {
        let text = "[services.user]\nworkers = 0\n[services.user.endpoints.get]\nservice_ms = { dist = \"exponential\", mean_ms = -3 }\n";
        let inv = Invalid::at(
            "services.user.endpoints.get.service_ms.mean_ms",
            "must be > 0",
        );
        let d = Diagnostic::from_invalid("m.toml", text, inv, false);
        let loc = d.location.as_ref().unwrap();
        assert_eq!((loc.line, loc.column), (4, 48));
        let shown = d.to_string();
        assert!(shown.contains("--> m.toml:4:48"), "{shown}");
        assert!(shown.contains("^^"), "{shown}");
    }

    #[test]
    fn suggests_the_nearest_field() {
        let help = suggest_from_serde_message(
            "unknown field `wrokers`, expected one of `instances`, `workers`, `blocking`",
        )
        .unwrap();
        assert!(help.starts_with("did you mean `workers`?"), "{help}");
        assert_eq!(did_you_mean("zzzzzz", ["workers"]), None);
    }
}
