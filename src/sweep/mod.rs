//! Parameter sweeps: a grid of points (the cartesian product of varied parameters) × independent
//! replications, run in parallel, written point by point so that an interrupted sweep resumes and
//! shards on many machines merge into the same result as one run.
//!
//! Determinism: replication `r` of point `p` runs with seed `derive_seed(base, p, r)`, and every
//! output file is assembled from the point files in point order, so results are byte-identical
//! whatever the thread count, the sharding, or the order in which points finished.

mod assemble;
mod merge;
mod progress;
mod spec;
mod store;

pub use merge::{Merged, merge};
pub use spec::{Axis, expand, format_value, parse_vary};
pub use store::{PointFile, SweepInfo};

use crate::engine::derive_seed;
use crate::error::Error;
use crate::model::{Model, ModelText, Override};
use crate::output::{OutputError, write_atomic};
use crate::sim::{Stop, replicate_reduced};
use progress::Progress;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Most points a sweep may have without `--force`.
pub const MAX_POINTS: usize = 100_000;

/// The grid of a sweep.
#[derive(Clone, Debug)]
pub struct Grid {
    pub axes: Vec<Axis>,
}

impl Grid {
    /// Checks the axes: at least one, no path twice, not too many points (unless `force`).
    pub fn new(axes: Vec<Axis>, force: bool) -> Result<Grid, Error> {
        if axes.is_empty() {
            return Err(Error::Usage(
                "nothing to sweep: give --vary PATH=SPEC (e.g. --vary workload.rate_per_s=100:900:100) or a [sweep] table in the model".into(),
            ));
        }
        for (i, a) in axes.iter().enumerate() {
            if axes[..i].iter().any(|b| b.path == a.path) {
                return Err(Error::Usage(format!(
                    "`{}` is varied twice; give it one SPEC",
                    a.path
                )));
            }
        }
        let grid = Grid { axes };
        let n = grid.len();
        if n > MAX_POINTS && !force {
            return Err(Error::Usage(format!(
                "the sweep has {n} points (more than {MAX_POINTS}); pass --force if you mean it"
            )));
        }
        Ok(grid)
    }

    /// Number of points (saturating).
    pub fn len(&self) -> usize {
        self.axes
            .iter()
            .fold(1usize, |acc, a| acc.saturating_mul(a.values.len()))
    }

    /// Whether the grid has no point.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values of point `id` (the last axis varies fastest).
    pub fn values(&self, id: usize) -> Vec<&str> {
        let mut rest = id;
        let mut out = vec![""; self.axes.len()];
        for (i, a) in self.axes.iter().enumerate().rev() {
            out[i] = &a.values[rest % a.values.len()];
            rest /= a.values.len();
        }
        out
    }

    /// The overrides that make point `id`.
    pub fn overrides(&self, id: usize) -> Vec<Override> {
        self.axes
            .iter()
            .zip(self.values(id))
            .map(|(a, v)| Override {
                path: a.path.split('.').map(str::to_string).collect(),
                value: v.to_string(),
            })
            .collect()
    }
}

/// Which part of a sweep this invocation runs: points whose id ≡ index (mod count).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shard {
    /// 0-based.
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `K/N` (K from 1 to N), or `N` alone with the 0-based index from the environment:
    /// `JOB_COMPLETION_INDEX` (Kubernetes Indexed Job) or else `SLURM_ARRAY_TASK_ID`.
    ///
    /// The task id *is* the shard index, never an offset from `SLURM_ARRAY_TASK_MIN`: Slurm sets
    /// that to the lowest id of the submission, so resubmitting one task (`--array=2`) or an
    /// array with a step (`--array=0-15:4`) would otherwise renumber the shards and run the
    /// wrong points into another shard's folder. An id outside `0..N` is refused, naming the
    /// fix for arrays numbered from 1.
    pub fn parse(spec: &str, env: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let number = |s: &str, what: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("--shard {spec}: `{s}` is not a whole number ({what})"))
        };
        let (index, count) = match spec.split_once('/') {
            Some((k, n)) => {
                let (k, n) = (number(k, "K in K/N")?, number(n, "N in K/N")?);
                if k == 0 || k > n {
                    return Err(format!("--shard {spec}: K must be between 1 and {n}"));
                }
                (k - 1, n)
            }
            None => {
                let n = number(spec, "the number of shards")?;
                let (var, value) = ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"]
                    .into_iter()
                    .find_map(|var| env(var).map(|v| (var, v)))
                    .ok_or_else(|| {
                        format!(
                            "--shard {spec}: give K/N, or set JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID"
                        )
                    })?;
                let index = number(&value, var)?;
                if n > 0 && index >= n {
                    return Err(format!(
                        "--shard {spec}: {var}={index} is not a shard of {n} (the index is 0-based: 0 to {last}); \
                         number the array from 0 (e.g. `#SBATCH --array=0-{last}`), or for an array \
                         numbered from 1 pass the index yourself: --shard \"${var}/{n}\"",
                        last = n - 1
                    ));
                }
                (index, n)
            }
        };
        if count == 0 {
            return Err(format!("--shard {spec}: N must be at least 1"));
        }
        Ok(Shard { index, count })
    }

    /// Whether point `id` belongs to this shard.
    pub fn has(&self, id: usize) -> bool {
        id % self.count == self.index
    }

    /// The shard as `sweep.json` records it: `K/N`, K from 1.
    pub fn label(&self) -> String {
        format!("{}/{}", self.index + 1, self.count)
    }
}

/// Everything a sweep needs before it runs.
pub struct Plan {
    pub text: ModelText,
    /// The user's `--set` overrides, applied to every point.
    pub sets: Vec<Override>,
    /// The model with `sets` applied (its seed is the sweep's base seed).
    pub base: Model,
    pub grid: Grid,
    pub reps: u32,
    pub shard: Option<Shard>,
    /// Limits for every run of the sweep.
    pub options: crate::sim::Options,
    /// The command line, recorded in `sweep.json`.
    pub command: String,
}

impl Plan {
    /// Identifies the sweep: model bytes, overrides, grid, replications, base seed.
    pub fn sweep_id(&self) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.base.source.sha256.as_bytes());
        for s in &self.sets {
            h.update(format!("\u{0}set {s}").as_bytes());
        }
        for a in &self.grid.axes {
            h.update(format!("\u{0}axis {}={}", a.path, a.values.join(",")).as_bytes());
        }
        h.update(format!("\u{0}reps {}\u{0}seed {}", self.reps, self.base.seed).as_bytes());
        h.finalize()
            .iter()
            .take(12)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The model of point `id`.
    pub fn model(&self, id: usize) -> Result<Model, Error> {
        let mut overrides = self.sets.clone();
        overrides.extend(self.grid.overrides(id));
        self.text.load(&overrides).map_err(|e| {
            let values: Vec<String> = self
                .grid
                .axes
                .iter()
                .zip(self.grid.values(id))
                .map(|(a, v)| format!("{}={v}", a.path))
                .collect();
            Error::Usage(format!(
                "point {id} ({}) is not a valid model:\n{e}",
                values.join(", ")
            ))
        })
    }

    /// Loads one point per value of each axis (the other axes at their first values), so that
    /// a bad path or value is reported before anything runs.
    ///
    /// A value is checked beside the other axes' values, not alone: one may need another
    /// (`workload.propagate_deadline=true` needs the `workload.deadline_ms` another axis sets).
    pub fn check(&self) -> Result<(), Error> {
        let mut ids = std::collections::BTreeSet::new();
        let mut stride = 1;
        for a in self.grid.axes.iter().rev() {
            ids.extend((0..a.values.len()).map(|v| v * stride));
            stride *= a.values.len();
        }
        for id in ids {
            if let Err(point) = self.model(id) {
                return Err(self.refused_value(id).unwrap_or(point));
            }
        }
        Ok(())
    }

    /// Of point `id`'s values, one the model refuses even alone (a path it lacks, a word it
    /// does not know): that is the user's `--vary` argument, not a line of the model file, so
    /// the error says so without pointing into the file.
    fn refused_value(&self, id: usize) -> Option<Error> {
        let axes = self.grid.axes.iter().zip(self.grid.overrides(id));
        axes.into_iter().find_map(|(a, value)| {
            let mut overrides = self.sets.clone();
            let v = value.value.clone();
            overrides.push(value);
            match self.text.load(&overrides) {
                Ok(_) => None,
                Err(crate::model::ModelError::Invalid(d)) => Some(Error::Usage(format!(
                    "--vary {}={}: the value `{v}` is refused: {}{}",
                    a.path,
                    a.values.join(","),
                    d.message,
                    d.help
                        .filter(|h| !h.contains("changed by --set"))
                        .map(|h| format!("\n  = help: {h}"))
                        .unwrap_or_default()
                ))),
                Err(other) => Some(other.into()),
            }
        })
    }

    /// Point ids this invocation is responsible for.
    pub fn ids(&self) -> Vec<usize> {
        (0..self.grid.len())
            .filter(|&id| self.shard.is_none_or(|s| s.has(id)))
            .collect()
    }

    /// The description written to `sweep.json`.
    pub fn info(&self, points_done: usize, wall_time_s: f64) -> SweepInfo {
        SweepInfo {
            sweep_id: self.sweep_id(),
            model: self.base.name.clone(),
            model_file: self.base.source.file.clone(),
            model_sha256: self.base.source.sha256.clone(),
            overrides: self.sets.iter().map(|s| s.to_string()).collect(),
            command: self.command.clone(),
            axes: self.grid.axes.clone(),
            replications: self.reps,
            base_seed: self.base.seed,
            points_total: self.grid.len(),
            shard: self.shard.map(|s| s.label()),
            points_done,
            points_missing: Vec::new(),
            meshsim_version: env!("CARGO_PKG_VERSION").into(),
            wall_time_s,
        }
    }
}

/// What a finished sweep invocation did.
pub struct Outcome {
    pub ran: usize,
    pub resumed: usize,
    pub files: Vec<PathBuf>,
    pub wall_time_s: f64,
}

/// Runs the plan's points (all replications in parallel) into `out`, writing each point's file
/// as it completes, then assembles `runs.csv`, `points.csv` and `sweep.json`. With `resume`,
/// points already in `out` from the same sweep are kept and not run again.
pub fn run(plan: &Plan, out: &Path, resume: bool, quiet: bool) -> Result<Outcome, Error> {
    let started = Instant::now();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Output(OutputError::Io { path, source })
    };
    std::fs::create_dir_all(store::points_dir(out)).map_err(io(&store::points_dir(out)))?;
    let sweep_id = plan.sweep_id();
    let existing = store::read_points(out).map_err(Error::Usage)?;
    if resume {
        check_resumable(plan, out, &existing)?;
    }
    let mut done = std::collections::BTreeSet::new();
    for p in existing {
        if resume {
            done.insert(p.point_id);
        } else {
            // Without --resume, whatever the folder held is replaced.
            let path = store::point_path(out, p.point_id);
            std::fs::remove_file(&path).map_err(io(&path))?;
        }
    }
    // Label the folder before anything runs, so that a task killed outright (SIGKILL, a node
    // lost) leaves a folder that says which sweep and shard its points belong to.
    store::write_info(out, &plan.info(done.len(), 0.0))?;
    let mut todo: Vec<usize> = plan
        .ids()
        .into_iter()
        .filter(|id| !done.contains(id))
        .collect();
    let resumed = plan.ids().len() - todo.len();
    // Longest runs first, each point handed to the next free thread (list scheduling): the last
    // points to finish are short ones, so no core idles long at the end of a sweep. The order
    // changes nothing else: every run has its own seed, and files are assembled by point id.
    // Learning a point's work loads its model (a large model takes a fraction of a second):
    // on every thread.
    let work: Vec<u64> = todo
        .par_iter()
        .map(|&id| {
            plan.model(id)
                .map_or(0.0, |m| m.expected_requests())
                .to_bits()
        })
        .collect();
    let work: std::collections::HashMap<usize, u64> = todo.iter().copied().zip(work).collect();
    todo.sort_by_key(|id| std::cmp::Reverse(work[id]));
    let progress = Progress::new(todo.len(), quiet);
    let ran = todo.len();
    let points = todo.into_iter().par_bridge();
    let outcome = points.try_for_each(|id| -> Result<(), Error> {
        if plan.options.cancel.requested() {
            return Err(Error::Interrupted(String::new()));
        }
        let model = plan.model(id)?;
        let record = |r: u32, result: crate::sim::RunResult| {
            let record = store::RunRecord {
                replication: r,
                seed: derive_seed(plan.base.seed, id as u64, u64::from(r)),
                measured_s: result.measured_s,
                routes: result.routes.iter().map(store::RouteRecord::new).collect(),
                cost_per_hour: crate::cost::of_run(&model, &result).map(|c| c.per_hour),
                stores: store::StoreRecord::of_run(&result),
            };
            (record, result.stopped)
        };
        let results: Vec<(store::RunRecord, Option<Stop>)> = replicate_reduced(
            &model,
            plan.base.seed,
            id as u64,
            0..plan.reps,
            &plan.options,
            record,
        );
        // An interrupted point is not written: --resume runs it again, whole.
        if results.iter().any(|(_, s)| s == &Some(Stop::Interrupted)) {
            return Err(Error::Interrupted(String::new()));
        }
        if let Some(stop) = results.iter().find_map(|(_, s)| s.as_ref()) {
            progress.warn(&format!(
                "warning: point {id} stopped early ({stop}); its results are partial"
            ));
        }
        let runs: Vec<store::RunRecord> = results.into_iter().map(|(r, _)| r).collect();
        let p99 = pooled_p99(&runs);
        let point = PointFile {
            sweep_id: sweep_id.clone(),
            point_id: id,
            params: plan.grid.values(id).into_iter().map(String::from).collect(),
            runs,
        };
        store::write_point(out, &point)?;
        progress.point_done(id, p99);
        Ok(())
    });
    progress.finish();
    let wall = started.elapsed().as_secs_f64();
    let info = plan.info(0, wall);
    // Whatever happened, the finished points are on disk: assemble them, so the CSV files are
    // valid for the points done.
    let files = assemble_into(out, info)?;
    if let Err(e) = outcome {
        return Err(match e {
            Error::Interrupted(_) => {
                let done = store::read_points(out).map(|p| p.len()).unwrap_or(0);
                Error::Interrupted(format!(
                    "{done} of {} points are finished and written to {}; run the same command with --resume to complete the sweep",
                    plan.ids().len(),
                    out.display()
                ))
            }
            other => other,
        });
    }
    Ok(Outcome {
        ran,
        resumed,
        files,
        wall_time_s: wall,
    })
}

/// Refuses to resume into a folder that holds another sweep, another shard, or points this
/// invocation would not run: resuming there would mix two sets of results under one label.
fn check_resumable(plan: &Plan, out: &Path, existing: &[PointFile]) -> Result<(), Error> {
    let asked = describe(&plan.sweep_id(), plan.shard.map(|s| s.label()).as_deref());
    let refuse = |holds: String| {
        Error::Usage(format!(
            "--resume: `{}` holds {holds}, but this command runs {asked}; \
             give each sweep and shard its own --out (or drop --resume to replace the folder)",
            out.display()
        ))
    };
    if out.join("sweep.json").exists() {
        let info = store::read_info(out).map_err(Error::Usage)?;
        if info.sweep_id != plan.sweep_id() || info.shard != plan.shard.map(|s| s.label()) {
            return Err(refuse(describe(&info.sweep_id, info.shard.as_deref())));
        }
    }
    let ids: std::collections::BTreeSet<usize> = plan.ids().into_iter().collect();
    if let Some(p) = existing.iter().find(|p| p.sweep_id != plan.sweep_id()) {
        return Err(refuse(format!(
            "point {} of sweep {}",
            p.point_id, p.sweep_id
        )));
    }
    if let Some(p) = existing.iter().find(|p| !ids.contains(&p.point_id)) {
        let owner = plan.shard.map(|s| Shard {
            index: p.point_id % s.count,
            count: s.count,
        });
        return Err(refuse(format!(
            "point {}, which belongs to {}",
            p.point_id,
            describe(&plan.sweep_id(), owner.map(|s| s.label()).as_deref())
        )));
    }
    Ok(())
}

/// "shard 2/4 of sweep ab12…" or "sweep ab12…".
fn describe(sweep_id: &str, shard: Option<&str>) -> String {
    match shard {
        Some(k) => format!("shard {k} of sweep {sweep_id}"),
        None => format!("sweep {sweep_id} (unsharded)"),
    }
}

/// Writes `slo.csv` into `out` from its point files: per point and SLO, the verdict.
pub fn write_slo_csv(out: &Path, slos: &[crate::planning::Slo]) -> Result<PathBuf, Error> {
    let info = store::read_info(out).map_err(Error::Usage)?;
    let points: Vec<PointFile> = store::read_points(out)
        .map_err(Error::Usage)?
        .into_iter()
        .filter(|p| p.sweep_id == info.sweep_id)
        .collect();
    let bytes = assemble::slo_csv(&info, &points, slos).map_err(Error::Usage)?;
    let path = out.join("slo.csv");
    write_atomic(&path, &bytes)?;
    Ok(path)
}

/// p99 over all routes and replications of a point, for the progress display.
fn pooled_p99(runs: &[store::RunRecord]) -> f64 {
    let mut all = crate::stats::LatencyStats::new();
    for run in runs {
        for r in &run.routes {
            if let Some(l) = crate::stats::LatencyStats::from_snapshot(&r.latency) {
                all.merge(&l);
            }
        }
    }
    all.quantile_ms(0.99)
}

/// Writes `runs.csv`, `points.csv` and `sweep.json` from the point files in `out`.
fn assemble_into(out: &Path, mut info: SweepInfo) -> Result<Vec<PathBuf>, Error> {
    let points: Vec<PointFile> = store::read_points(out)
        .map_err(Error::Usage)?
        .into_iter()
        .filter(|p| p.sweep_id == info.sweep_id)
        .collect();
    info.points_done = points.len();
    let runs = assemble::runs_csv(&info, &points).map_err(Error::Usage)?;
    let summary = assemble::points_csv(&info, &points).map_err(Error::Usage)?;
    let stores = assemble::stores_csv(&info, &points).map_err(Error::Usage)?;
    let mut files = Vec::new();
    for (name, bytes) in [
        ("runs.csv", Some(runs)),
        ("points.csv", Some(summary)),
        ("stores.csv", stores),
    ] {
        let Some(bytes) = bytes else {
            continue;
        };
        let path = out.join(name);
        write_atomic(&path, &bytes)?;
        files.push(path);
    }
    store::write_info(out, &info)?;
    files.push(out.join("sweep.json"));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::Shard;

    /// Slurm's environment for a task of an array submitted as `--array=MIN-MAX[:STEP]`.
    fn slurm(id: usize, min: usize, max: usize) -> impl Fn(&str) -> Option<String> {
        move |k| match k {
            "SLURM_ARRAY_TASK_ID" => Some(id.to_string()),
            "SLURM_ARRAY_TASK_MIN" => Some(min.to_string()),
            "SLURM_ARRAY_TASK_MAX" => Some(max.to_string()),
            _ => None,
        }
    }

    fn shard(index: usize, count: usize) -> Shard {
        Shard { index, count }
    }

    #[test]
    fn a_whole_array_gives_each_task_its_own_shard() {
        for id in 0..4 {
            assert_eq!(Shard::parse("4", slurm(id, 0, 3)), Ok(shard(id, 4)));
        }
    }

    #[test]
    fn resubmitting_one_task_runs_that_task_shard() {
        // `sbatch --array=2` sets MIN = MAX = 2: the shard is still the third of four.
        assert_eq!(Shard::parse("4", slurm(2, 2, 2)), Ok(shard(2, 4)));
    }

    #[test]
    fn a_requeued_task_keeps_its_shard() {
        // `scontrol requeue` keeps the original array's variables.
        assert_eq!(Shard::parse("4", slurm(3, 0, 3)), Ok(shard(3, 4)));
    }

    #[test]
    fn an_array_with_a_step_runs_the_shards_it_names() {
        // `--array=0-15:4` runs tasks 0, 4, 8 and 12: shards 1, 5, 9 and 13 of 16.
        for id in [0, 4, 8, 12] {
            assert_eq!(Shard::parse("16", slurm(id, 0, 12)), Ok(shard(id, 16)));
        }
    }

    #[test]
    fn an_array_not_starting_at_zero_is_not_renumbered() {
        // `--array=2-3`: the tasks are shards 3 and 4 of 4, not 1 and 2.
        assert_eq!(Shard::parse("4", slurm(2, 2, 3)), Ok(shard(2, 4)));
        assert_eq!(Shard::parse("4", slurm(3, 2, 3)), Ok(shard(3, 4)));
    }

    #[test]
    fn an_array_numbered_from_one_is_refused_with_the_fix() {
        let e = Shard::parse("4", slurm(4, 1, 4)).unwrap_err();
        assert!(
            e.contains("SLURM_ARRAY_TASK_ID=4 is not a shard of 4"),
            "{e}"
        );
        assert!(e.contains("--array=0-3"), "{e}");
        assert!(e.contains("--shard \"$SLURM_ARRAY_TASK_ID/4\""), "{e}");
        // The fix it names works: K/N with K from 1.
        assert_eq!(Shard::parse("4/4", |_| None), Ok(shard(3, 4)));
    }

    #[test]
    fn a_kubernetes_indexed_job_uses_its_completion_index() {
        let env = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "0".to_string());
        assert_eq!(Shard::parse("3", env), Ok(shard(0, 3)));
        // A pod restarted by restartPolicy: OnFailure gets the same index, so the same shard.
        let env = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "2".to_string());
        assert_eq!(Shard::parse("3", env), Ok(shard(2, 3)));
        let env = |k: &str| (k == "JOB_COMPLETION_INDEX").then(|| "3".to_string());
        assert!(Shard::parse("3", env).unwrap_err().contains("0 to 2"));
    }

    #[test]
    fn without_an_index_the_shard_must_be_explicit() {
        let e = Shard::parse("4", |_| None).unwrap_err();
        assert!(e.contains("give K/N"), "{e}");
        assert!(Shard::parse("0/4", |_| None).is_err());
        assert!(Shard::parse("5/4", |_| None).is_err());
        assert!(Shard::parse("1/0", |_| None).is_err());
    }
}
