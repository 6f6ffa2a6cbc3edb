//! Sharded sweeps as cluster schedulers run them: tasks rerun, requeued or restarted, and
//! `merge` refusing every result that would differ from the unsharded sweep. The real Slurm
//! cluster run is `docs/cluster/slurm-test.sh`, a step of `.ci/run`.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::ok;

/// A six-point sweep of the built-in model, short enough for tests.
const SWEEP: [&str; 13] = [
    "sweep",
    "--vary",
    "workload.rate_per_s=200:600:200",
    "--vary",
    "links.gateway_user.latency_ms=0.5,5",
    "--reps",
    "2",
    "-q",
    "--no-charts",
    "--set",
    "simulation.duration_s=3",
    "--set",
    "simulation.warmup_s=1",
];

/// Runs the sweep with `extra` arguments and the given environment (nothing else inherited
/// that could name a shard).
fn sweep(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meshsim"));
    cmd.args(SWEEP).args(extra).current_dir(dir);
    for var in [
        "JOB_COMPLETION_INDEX",
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    cmd.output().unwrap()
}

fn merge(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meshsim"))
        .arg("merge")
        .args(args)
        .arg("--no-charts")
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Slurm's variables for task `id` of an array submitted as `--array=MIN-MAX`.
fn slurm(
    id: &'static str,
    min: &'static str,
    max: &'static str,
) -> [(&'static str, &'static str); 3] {
    [
        ("SLURM_ARRAY_TASK_ID", id),
        ("SLURM_ARRAY_TASK_MIN", min),
        ("SLURM_ARRAY_TASK_MAX", max),
    ]
}

#[test]
fn resubmitting_one_array_task_reruns_that_shard_into_its_own_folder() {
    let dir = tempfile::tempdir().unwrap();
    ok(&sweep(dir.path(), &["--out", "whole"], &[]));
    // The array ran as `--array=0-3`; task 2 was cancelled before it finished anything.
    for id in ["0", "1", "3"] {
        let out = format!("shard-{id}");
        ok(&sweep(
            dir.path(),
            &["--shard", "4", "--resume", "--out", &out],
            &slurm(id, "0", "3"),
        ));
    }
    // Resubmitted alone (`sbatch --array=2`): Slurm sets MIN = MAX = 2. It must still be shard
    // 3/4, written where the script puts task 2.
    ok(&sweep(
        dir.path(),
        &["--shard", "4", "--resume", "--out", "shard-2"],
        &slurm("2", "2", "2"),
    ));
    let info = String::from_utf8(read(&dir.path().join("shard-2/sweep.json"))).unwrap();
    assert!(info.contains("\"shard\": \"3/4\""), "{info}");
    ok(&merge(
        dir.path(),
        &[
            "shard-0", "shard-1", "shard-2", "shard-3", "--out", "merged",
        ],
    ));
    for f in ["points.csv", "runs.csv"] {
        assert_eq!(
            read(&dir.path().join("whole").join(f)),
            read(&dir.path().join("merged").join(f)),
            "{f} differs"
        );
    }
}

#[test]
fn resume_refuses_a_folder_of_another_shard() {
    let dir = tempfile::tempdir().unwrap();
    ok(&sweep(dir.path(), &["--shard", "3/4", "--out", "s"], &[]));
    let out = sweep(
        dir.path(),
        &["--shard", "1/4", "--resume", "--out", "s"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("holds shard 3/4 of sweep") && err.contains("runs shard 1/4 of sweep"),
        "{err}"
    );
    // The folder is untouched: still shard 3/4, with its one point (id 2 of 0..6).
    let info = String::from_utf8(read(&dir.path().join("s/sweep.json"))).unwrap();
    assert!(info.contains("\"shard\": \"3/4\""), "{info}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("s/points"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn resume_refuses_a_folder_of_another_sweep() {
    let dir = tempfile::tempdir().unwrap();
    ok(&sweep(dir.path(), &["--out", "s"], &[]));
    let out = sweep(
        dir.path(),
        &["--set", "simulation.seed=99", "--resume", "--out", "s"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("give each sweep and shard its own --out"));
}

#[test]
fn resume_refuses_points_of_another_shard_even_without_a_label() {
    // A task killed outright may leave points but a stale or missing sweep.json: the points
    // themselves are checked.
    let dir = tempfile::tempdir().unwrap();
    ok(&sweep(dir.path(), &["--shard", "2/4", "--out", "s"], &[]));
    std::fs::remove_file(dir.path().join("s/sweep.json")).unwrap();
    let out = sweep(
        dir.path(),
        &["--shard", "1/4", "--resume", "--out", "s"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("which belongs to shard 2/4"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_restarted_indexed_job_pod_keeps_its_finished_points() {
    let dir = tempfile::tempdir().unwrap();
    let pod = [("JOB_COMPLETION_INDEX", "1")];
    ok(&sweep(
        dir.path(),
        &["--shard", "2", "--resume", "--out", "s"],
        &pod,
    ));
    let before = read(&dir.path().join("s/points.csv"));
    // restartPolicy: OnFailure starts the same command again, into the same volume.
    let out = sweep(
        dir.path(),
        &["--shard", "2", "--resume", "--out", "s"],
        &pod,
    );
    ok(&out);
    assert_eq!(read(&dir.path().join("s/points.csv")), before);
    // Half the points are done after a crash midway: the restart runs only the rest.
    std::fs::remove_file(dir.path().join("s/points/point-0000001.json")).unwrap();
    let out = sweep(
        dir.path(),
        &["--shard", "2", "--resume", "--out", "s"],
        &pod,
    );
    assert!(String::from_utf8_lossy(&out.stdout).is_empty());
    ok(&out);
    assert_eq!(read(&dir.path().join("s/points.csv")), before);
}

#[test]
fn merge_refuses_missing_points_unless_asked_and_then_records_them() {
    let dir = tempfile::tempdir().unwrap();
    for k in ["1/3", "2/3"] {
        let out = format!("s{}", &k[..1]);
        ok(&sweep(dir.path(), &["--shard", k, "--out", &out], &[]));
    }
    let out = merge(dir.path(), &["s1", "s2", "--out", "m"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("2 of 6 points are missing"), "{err}");
    assert!(err.contains(": 2, 5."), "{err}");
    assert!(err.contains("Rerun shard 3/3"), "{err}");
    assert!(err.contains("--allow-missing"), "{err}");
    assert!(
        !dir.path().join("m").exists(),
        "a refused merge writes nothing"
    );

    let out = merge(dir.path(), &["s1", "s2", "--out", "m", "--allow-missing"]);
    ok(&out);
    assert!(
        stderr(&out).contains("2 points are missing"),
        "{}",
        stderr(&out)
    );
    let info: serde_json::Value =
        serde_json::from_slice(&read(&dir.path().join("m/sweep.json"))).unwrap();
    assert_eq!(info["points_missing"], serde_json::json!([2, 5]));
    assert_eq!(info["points_done"], 4);
    let points = String::from_utf8(read(&dir.path().join("m/points.csv"))).unwrap();
    assert_eq!(points.lines().count(), 1 + 4 * 3, "{points}");
}

#[test]
fn merge_refuses_a_folder_holding_another_shard_points() {
    // What resubmitting a task used to produce: shard 1/4's points in shard 3/4's folder.
    let dir = tempfile::tempdir().unwrap();
    for k in ["1/4", "2/4", "3/4", "4/4"] {
        let out = format!("s{}", &k[..1]);
        ok(&sweep(dir.path(), &["--shard", k, "--out", &out], &[]));
    }
    std::fs::copy(
        dir.path().join("s1/points/point-0000000.json"),
        dir.path().join("s3/points/point-0000000.json"),
    )
    .unwrap();
    let out = merge(dir.path(), &["s1", "s2", "s3", "s4", "--out", "m"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is shard 3/4 but holds point 0, which belongs to shard 1/4"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("m").exists());
}
