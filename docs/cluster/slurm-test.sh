#!/usr/bin/env bash
# The cluster recipe on a real Slurm: a single-node cluster on 127.0.0.1 (munged, slurmctld,
# slurmd from Debian's slurm-wlm and munge), the job array of docs/cluster/sweep.sbatch scaled
# down, one task cancelled part-way and resubmitted by the documented recipe
# (`sbatch --array=K`), then `meshsim merge`, whose points.csv and runs.csv must equal the
# unsharded sweep's byte for byte. Every daemon it starts is stopped on exit, also on failure.
#
#   bash docs/cluster/slurm-test.sh [path/to/meshsim]      (as root; CI runs it after cargo test)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
meshsim=$(realpath "${1:-$repo/target/release/meshsim}")
[ -x "$meshsim" ] || { echo "no meshsim binary at $meshsim (cargo build --release)"; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "== installing slurm-wlm and munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

work=$(mktemp -d /tmp/meshsim-slurm.XXXXXX)
chmod 755 "$work"
pids=()
stop() {
    status=$?
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
    done
    if [ "$status" -ne 0 ]; then
        echo "== failed; the daemons' logs:"
        tail -n 30 "$work"/*.log "$work"/*.out 2>/dev/null || true
    fi
    rm -rf "$work"
    exit "$status"
}
trap stop EXIT

# munge: its own key, socket and files, so no system munged is touched.
mkdir -m 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --foreground --socket="$work/munge/munge.sock" --key-file="$work/munge/munge.key" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/munged.log" \
    --seed-file="$work/munge/munged.seed" >"$work/munged.out" 2>&1 &
pids+=($!)

# Slurm: one node, bound to 127.0.0.1, no accounting, no cgroups.
cpus=$(nproc)
mem=$(awk '/MemTotal/ { print int($2 / 1024 / 2) }' /proc/meminfo)
mkdir -p "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=meshsim-ci
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge/munge.sock
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SchedulerParameters=defer_batch
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
for _ in $(seq 50); do [ -S "$work/munge/munge.sock" ] && break; sleep 0.1; done
slurmctld -D -i -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N localhost >"$work/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)' && break
    sleep 0.2
done
sinfo

# The sweep, scaled down: 9 rates × 2 instance counts = 18 points, 2 replications, 4 shards.
# Long enough simulated runs that a task is still running when it is cancelled.
export SHARDS=4 RATES=100:900:100 INSTANCES=1:2:1 REPS=2 OUT="$work/out" MESHSIM="$meshsim"
export EXTRA="--set simulation.duration_s=2000 --set simulation.warmup_s=5"
cd "$repo"
read -r -a extra <<<"$EXTRA"
"$meshsim" sweep models/seed.toml --vary "workload.rate_per_s=$RATES" \
    --vary "services.user.instances=$INSTANCES" --reps "$REPS" --jobs 1 -q --no-charts \
    "${extra[@]}" --out "$work/whole"

# Waits until no job of ours is pending or running.
drain() {
    for _ in $(seq 600); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && return 0
        sleep 0.5
    done
    echo "jobs did not finish:"; squeue; return 1
}

echo "== the job array (tasks 0-3), task 2 cancelled once it has written a point"
job=$(sbatch --parsable --array=0-3 --cpus-per-task=1 --output="$work/task-%a.out" \
    docs/cluster/sweep.sbatch)
for _ in $(seq 600); do
    ls "$OUT/shard-02/points/"*.json >/dev/null 2>&1 && break
    sleep 0.1
done
scancel "${job}_2"
drain
cancelled=$(ls "$OUT/shard-02/points/" | wc -l)
echo "task 2 was cancelled with $cancelled of its 4 points written"
[ "$cancelled" -lt 4 ] || { echo "task 2 finished before it was cancelled"; exit 1; }

echo "== merge before the rerun: must fail, naming the missing shard"
if "$meshsim" merge "$OUT"/shard-* --out "$work/early" --no-charts 2>"$work/early.err"; then
    echo "merge of an incomplete sweep exited 0"; exit 1
fi
cat "$work/early.err"
grep -q "Rerun shard 3/4" "$work/early.err"

echo "== the documented rerun: sbatch --array=2"
sbatch --parsable --array=2 --cpus-per-task=1 --output="$work/rerun-%a.out" \
    docs/cluster/sweep.sbatch >/dev/null
drain
grep -q '"shard": "3/4"' "$OUT/shard-02/sweep.json"

echo "== merge"
"$meshsim" merge "$OUT"/shard-* --out "$work/merged" --no-charts >/dev/null
for f in points.csv runs.csv; do
    cmp "$work/whole/$f" "$work/merged/$f"
    echo "$f: merged = unsharded ($(wc -l <"$work/merged/$f") lines)"
done
echo "slurm cluster test: passed"
