//! `meshsim merge`: the output folders of a sharded sweep become the result of one unsharded run
//! — or an error, never a silently incomplete or mixed result. Every workflow engine trusts the
//! exit code, so anything that makes the merged files differ from the unsharded sweep's fails.

use super::{Outcome, PointFile, Shard, SweepInfo, assemble_into, store};
use crate::error::Error;
use crate::output::OutputError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What a merge found besides the points it wrote.
pub struct Merged {
    pub outcome: Outcome,
    /// Points of the sweep that no folder holds (only with `allow_missing`; else an error).
    pub missing: Vec<usize>,
}

/// Combines shard outputs into `out`. Refused (nothing written): folders of different sweeps, a
/// folder holding points of a shard other than the one its `sweep.json` names, one point with
/// two different results, and — unless `allow_missing` — any point no folder holds.
pub fn merge(dirs: &[PathBuf], out: &Path, allow_missing: bool) -> Result<Merged, Error> {
    let started = Instant::now();
    if dirs.is_empty() {
        return Err(Error::Usage("merge needs at least one shard folder".into()));
    }
    let infos: Vec<SweepInfo> = dirs
        .iter()
        .map(|d| store::read_info(d).map_err(Error::Usage))
        .collect::<Result<_, _>>()?;
    let first = &infos[0];
    for (d, i) in dirs.iter().zip(&infos) {
        if i.sweep_id != first.sweep_id {
            return Err(Error::Usage(format!(
                "`{}` holds sweep {} but `{}` holds sweep {}: shards of different sweeps (model, overrides, --vary, --reps or seed differ) cannot be merged",
                dirs[0].display(),
                first.sweep_id,
                d.display(),
                i.sweep_id
            )));
        }
    }
    let mut by_id: BTreeMap<usize, (PointFile, &PathBuf)> = BTreeMap::new();
    for (d, info) in dirs.iter().zip(&infos) {
        let shard = info
            .shard
            .as_deref()
            .map(|k| Shard::parse(k, |_| None))
            .transpose()
            .map_err(|e| {
                Error::Usage(format!(
                    "`{}`: sweep.json names a bad shard: {e}",
                    d.display()
                ))
            })?;
        for p in store::read_points(d).map_err(Error::Usage)? {
            check_point(d, &p, &first.sweep_id, shard)?;
            if let Some((other, from)) = by_id.get(&p.point_id) {
                let same = serde_json::to_vec(other).ok() == serde_json::to_vec(&p).ok();
                if !same {
                    return Err(Error::Usage(format!(
                        "point {} is in both `{}` and `{}` with different results",
                        p.point_id,
                        from.display(),
                        d.display()
                    )));
                }
                eprintln!(
                    "note: point {} is in both `{}` and `{}` (identical; kept once)",
                    p.point_id,
                    from.display(),
                    d.display()
                );
                continue;
            }
            by_id.insert(p.point_id, (p, d));
        }
    }
    let missing: Vec<usize> = (0..first.points_total)
        .filter(|id| !by_id.contains_key(id))
        .collect();
    if !missing.is_empty() && !allow_missing {
        return Err(Error::Failed(format!(
            "{} of {} points are missing, so nothing was written to `{}`: {}. \
             Rerun {} into {} folder (see the cluster docs), then merge again; \
             or pass --allow-missing to merge what there is",
            missing.len(),
            first.points_total,
            out.display(),
            list(&missing),
            owners(&infos, &missing),
            if missing.len() == 1 { "its" } else { "their" }
        )));
    }
    std::fs::create_dir_all(store::points_dir(out)).map_err(|source| {
        Error::Output(OutputError::Io {
            path: store::points_dir(out),
            source,
        })
    })?;
    for (p, _) in by_id.values() {
        store::write_point(out, p)?;
    }
    let mut info = first.clone();
    info.shard = None;
    info.points_missing = missing.clone();
    info.wall_time_s = started.elapsed().as_secs_f64();
    let files = assemble_into(out, info)?;
    Ok(Merged {
        outcome: Outcome {
            ran: 0,
            resumed: by_id.len(),
            files,
            wall_time_s: started.elapsed().as_secs_f64(),
        },
        missing,
    })
}

/// A point must be of the folder's sweep and, when the folder is a shard, of that shard: a point
/// of another shard means a task ran into the wrong folder, and its results cannot be trusted to
/// be the ones the folder's label promises.
fn check_point(
    dir: &Path,
    p: &PointFile,
    sweep_id: &str,
    shard: Option<Shard>,
) -> Result<(), Error> {
    if p.sweep_id != sweep_id {
        return Err(Error::Usage(format!(
            "`{}` holds point {} of another sweep ({})",
            dir.display(),
            p.point_id,
            p.sweep_id
        )));
    }
    if let Some(s) = shard.filter(|s| !s.has(p.point_id)) {
        let owner = Shard {
            index: p.point_id % s.count,
            count: s.count,
        };
        return Err(Error::Usage(format!(
            "`{}` is shard {} but holds point {}, which belongs to shard {}: a task ran into another shard's folder; \
             rerun shard {} into a fresh folder and merge again",
            dir.display(),
            s.label(),
            p.point_id,
            owner.label(),
            s.label()
        )));
    }
    Ok(())
}

/// Up to 20 ids, then "…".
fn list(ids: &[usize]) -> String {
    let shown: Vec<String> = ids.iter().take(20).map(usize::to_string).collect();
    format!(
        "{}{}",
        shown.join(", "),
        if ids.len() > 20 { ", …" } else { "" }
    )
}

/// Which shards the missing points belong to, when the folders were sharded.
fn owners(infos: &[SweepInfo], missing: &[usize]) -> String {
    let count = infos
        .iter()
        .filter_map(|i| i.shard.as_deref())
        .find_map(|k| Shard::parse(k, |_| None).ok())
        .map(|s| s.count);
    match count {
        Some(n) => {
            let shards: std::collections::BTreeSet<usize> =
                missing.iter().map(|id| id % n).collect();
            let labels: Vec<String> = shards
                .into_iter()
                .map(|index| Shard { index, count: n }.label())
                .collect();
            format!("shard {}", labels.join(", "))
        }
        None => "the sweep".into(),
    }
}
