//! Every command the README and the docs show is run here, in the order a reader meets them,
//! in a scratch folder holding a copy of `models/`: the docs cannot drift from the tool. A
//! command shown with its output expects the exit the output implies (an `error:` line means a
//! failure, and stderr must say it); the few commands a test cannot run here are listed below
//! with who runs them instead, and any command matching no rule fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files read, in reading order (the README links the rest).
const DOCS: &[&str] = &[
    "README.md",
    "docs/guide.md",
    "docs/model.md",
    "docs/commands.md",
    "docs/resilience.md",
    "docs/operations.md",
    "docs/planning.md",
    "docs/traces.md",
    "docs/cluster.md",
    "docs/validation.md",
    "docs/performance.md",
    "docs/performance-history.md",
    "docs/architecture.md",
];

/// Commands this test does not run, by how they start, and who runs them instead.
const RUN_ELSEWHERE: &[(&str, &str)] = &[
    ("cargo test", "is what runs this test"),
    ("cargo install", "installs into the user's PATH"),
    (
        "cargo bench",
        "benchmarks: minutes each, run by hand (docs/performance.md)",
    ),
    (
        "RUSTC_BOOTSTRAP=1 cargo fuzz",
        "fuzzing campaigns; .ci/run builds the fuzz targets",
    ),
    (
        "reality/check",
        "needs Python; .ci/run runs `reality/check --smoke`",
    ),
    (
        "sbatch",
        "needs Slurm; .ci/run runs docs/cluster/slurm-test.sh",
    ),
    (
        "meshsim merge output/big/shard-*",
        "merges the Slurm job's shards; slurm-test.sh does",
    ),
    (
        "/usr/bin/time",
        "a measurement of docs/performance.md, run by hand",
    ),
    (
        "valgrind",
        "a measurement of docs/performance.md, run by hand",
    ),
    (
        "meshsim capacity big.toml",
        "a measurement of docs/performance.md (four minutes), run by hand",
    ),
];

/// Commands that read shell variables are a script's lines, run where the script runs.
fn reads_script_variables(command: &str) -> bool {
    command.contains("\"$") || command.contains(" $")
}

/// Other tools a walkthrough uses to set the scene (e.g. a typo put into a model with `sed`).
const HELPERS: &[&str] = &["sed -i "];

/// A command found in a document, with the output shown after it (if any).
#[derive(Debug)]
struct Shown {
    file: &'static str,
    line: usize,
    command: String,
    output: Vec<String>,
}

/// Commands in fenced blocks: in a block with `$ ` prompts, the prompted lines (the output
/// follows each); in a block without, every line that starts with a command (`meshsim`,
/// `cargo`, …), joined over trailing `\`.
fn block_commands(file: &'static str, text: &str) -> Vec<Shown> {
    const STARTS: &[&str] = &[
        "meshsim",
        "cargo ",
        "reality/",
        "sbatch ",
        "RUSTC_BOOTSTRAP",
        "/usr/bin/time",
        "valgrind",
    ];
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Shown> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(lang) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i + 1;
        let end = (start..lines.len())
            .find(|&j| lines[j].trim_start().starts_with("```"))
            .unwrap_or(lines.len());
        i = end + 1;
        if ["toml", "json", "csv", "text"].contains(&lang.trim()) {
            continue;
        }
        let body = &lines[start..end];
        let prompted = body.iter().any(|l| l.starts_with("$ "));
        for (k, line) in body.iter().enumerate() {
            let command = if prompted {
                line.strip_prefix("$ ")
            } else {
                STARTS.iter().any(|c| line.starts_with(c)).then_some(*line)
            };
            if let Some(command) = command {
                let mut command = command.trim().to_string();
                let mut next = k + 1;
                while command.ends_with('\\') && next < body.len() {
                    command.pop();
                    command.push_str(body[next].trim());
                    next += 1;
                }
                let output = body[next..]
                    .iter()
                    .take_while(|l| !l.starts_with("$ "))
                    .map(|l| l.to_string())
                    .collect();
                out.push(Shown {
                    file,
                    line: start + k + 1,
                    command,
                    output,
                });
            }
        }
    }
    out
}

/// Concrete commands in inline code: `` `meshsim run models/hedging.toml` `` (not synopses with
/// placeholders such as MODEL, `[--reps N]` or `…`).
fn inline_commands(file: &'static str, text: &str) -> Vec<Shown> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for (j, span) in line.split('`').enumerate() {
            if j % 2 == 0 || !span.starts_with("meshsim ") {
                continue;
            }
            // A bare `meshsim import` names a command; it does not show one to run.
            let words: Vec<&str> = span.split_whitespace().collect();
            let placeholder = words.len() < 3 && words.get(1).is_some_and(|w| !w.starts_with('-'))
                || span.contains('[')
                || span.contains('…')
                || words.iter().any(|w| {
                    let w = w.trim_end_matches("...");
                    let upper = |s: &str| {
                        !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    };
                    upper(w)
                        || w.split(['=', '.']).any(upper) && !w.starts_with("--")
                        || w.split_once('=').is_some_and(|(_, v)| upper(v))
                });
            if !placeholder {
                out.push(Shown {
                    file,
                    line: i + 1,
                    command: span.to_string(),
                    output: Vec::new(),
                });
            }
        }
    }
    out
}

fn scratch() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("models"), &dir.path().join("models"));
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_meshsim"), bin.join("meshsim")).unwrap();
    (dir, bin)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn every_command_in_the_docs_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut shown = Vec::new();
    for &file in DOCS {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        shown.extend(block_commands(file, &text));
        shown.extend(inline_commands(file, &text));
    }
    assert!(shown.len() > 30, "found only {} commands", shown.len());
    let (dir, bin) = scratch();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut ran = 0;
    let mut failures = Vec::new();
    for s in &shown {
        // `cargo run --release -- ARGS` is `meshsim ARGS` with a build first.
        let command = match s.command.strip_prefix("cargo run --release") {
            Some(rest) => format!(
                "meshsim{}",
                rest.trim_start().strip_prefix("--").unwrap_or(rest)
            ),
            None => s.command.clone(),
        };
        if RUN_ELSEWHERE
            .iter()
            .any(|(prefix, _)| command.starts_with(prefix))
            || reads_script_variables(&command)
        {
            continue;
        }
        if !command.starts_with("meshsim") && !HELPERS.iter().any(|h| command.starts_with(h)) {
            failures.push(format!(
                "{}:{}: `{}` is neither run here nor listed in RUN_ELSEWHERE",
                s.file, s.line, s.command
            ));
            continue;
        }
        let out = Command::new("bash")
            .args(["-c", &command])
            .current_dir(dir.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        ran += 1;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let error_shown = s.output.iter().find(|l| l.starts_with("error: "));
        match error_shown {
            None if !out.status.success() => failures.push(format!(
                "{}:{}: `{}` failed ({:?}):\n{stderr}",
                s.file,
                s.line,
                s.command,
                out.status.code()
            )),
            Some(e) => {
                // The shown error, up to its first number (numbers vary by run).
                let stem: String = e.chars().take_while(|c| !c.is_ascii_digit()).collect();
                if out.status.success() || !stderr.contains(stem.trim_end()) {
                    failures.push(format!(
                        "{}:{}: `{}` should fail with `{}`; exit {:?}, stderr:\n{stderr}",
                        s.file,
                        s.line,
                        s.command,
                        e,
                        out.status.code()
                    ));
                }
            }
            None => {}
        }
    }
    eprintln!("ran {ran} of {} commands shown in the docs", shown.len());
    if std::env::var_os("DOCS_LIST").is_some() {
        for s in &shown {
            eprintln!("{}:{}: {}", s.file, s.line, s.command);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
