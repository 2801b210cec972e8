#!/usr/bin/env bash
# Batch manifests on a real Slurm (docs/cluster.md): starts a single-node cluster of its own
# (munged, slurmctld, slurmd; the config, state, logs and sockets in a temporary folder, every
# daemon bound to 127.0.0.1 on free ports, two fake GPUs as gres on /dev/tty1 and /dev/tty2 or
# on two device files made in that folder),
# then with the nstyle given:
#  1. submits an array of 3 tasks (one fake GPU and one CPU each) over a 12-job stylize
#     manifest and a 4-job render manifest at tiny sizes, waits with a bounded poll, and checks
#     every output present exactly once (in one shard's summary, done), each a whole PNG, no
#     temporary left, and the summaries (shard I of 3 from Slurm, 1 thread from
#     SLURM_CPUS_PER_TASK, CUDA_VISIBLE_DEVICES 0 or 1 in each task's log);
#  2. cancels the render array's first task with scancel once its first render is done and
#     while its second (a longer one) runs, checks that nothing partial is left, resubmits the
#     array and checks that the finished renders are skipped, not redone (same inode and
#     mtime), and the cancelled one done.
# Every daemon it started is stopped on exit, also after a failure. Exits 77 with the reason
# when Slurm cannot start here (not root, no Slurm or munge, the cluster not up in 60 s), 1 on
# a failure, 0 when all checks pass. The weights and images are ../shared/data's, else random
# ones of the same layouts (tests/scripts/synthetic_models.py).
#   tests/scripts/test_slurm.sh NSTYLE
# Environment: NST_SHARED_DATA (default: ../shared/data next to the checkout),
# NST_SLURM_KEEP=1 keeps the temporary folder (its path is printed).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
t_start=$(date +%s.%N)
say() { printf 'test_slurm: %s\n' "$*"; }
skip() { say "SKIPPED: $*"; exit 77; }
fail() { say "FAILED: $*" >&2; exit 1; }
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

[[ $# -eq 1 ]] || { echo "usage: tests/scripts/test_slurm.sh NSTYLE" >&2; exit 2; }
nstyle=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[[ -x $nstyle ]] || fail "no nstyle program at $1"
[[ $(id -u) -eq 0 ]] || skip "slurmd needs root to run jobs as their user (run as root)"
for p in munged mungekey slurmctld slurmd sbatch squeue scancel sinfo python3; do
  command -v "$p" >/dev/null ||
    skip "'$p' is not installed (Debian: apt-get install slurmctld slurmd slurm-client munge)"
done

tmp=$(mktemp -d /tmp/nst-slurm.XXXXXX)
chmod 755 "$tmp"
pids=()
cleanup() {
  local rc=$?
  set +e
  if [[ -n ${SLURM_CONF:-} ]] && [[ -f $SLURM_CONF ]]; then
    scancel --quiet --user=root 2>/dev/null
  fi
  # the daemons this script started, by their process ids, newest first
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null; done
  for ((n = 0; n < 50; n++)); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    for log in slurmctld slurmd munged; do
      [[ -f $tmp/log/$log.log ]] || continue
      say "the last lines of $log.log:"
      tail -n 15 "$tmp/log/$log.log"
    done
  fi
  if [[ ${NST_SLURM_KEEP:-0} == 1 ]]; then say "kept $tmp"; else rm -rf "$tmp"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A bounded poll: runs "$@" every 0.2 s until it succeeds; false after $limit seconds.
wait_for() {
  local limit=$1
  shift
  local end=$(( $(date +%s) + limit ))
  until "$@"; do
    (( $(date +%s) < end )) || return 1
    sleep 0.2
  done
}

# Two free TCP ports on 127.0.0.1, from the kernel.
read -r port_ctld port_d < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

mkdir -p "$tmp"/{munge,state,spool,log,out,work}
chmod 700 "$tmp/munge"
# ---- munge ------------------------------------------------------------------------------------
mungekey --create --keyfile="$tmp/munge/munge.key" --bits=1024 >/dev/null 2>&1 ||
  skip "mungekey cannot make a key"
chmod 600 "$tmp/munge/munge.key"
munged --foreground --force --socket="$tmp/munge/munge.socket" --key-file="$tmp/munge/munge.key" \
  --pid-file="$tmp/munge/munged.pid" --seed-file="$tmp/munge/munged.seed" \
  --log-file="$tmp/log/munged.log" >"$tmp/log/munged.out" 2>&1 &
pids+=($!)
wait_for 10 test -S "$tmp/munge/munge.socket" || skip "munged did not start ($tmp/log/munged.log)"

# ---- slurm ------------------------------------------------------------------------------------
cpus=$(nproc)
(( cpus >= 2 )) || cpus=2 # two tasks at once, one a fake GPU (CPUs over-stated on one core)
cat >"$tmp/slurm.conf" <<EOF
ClusterName=nsttest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port_ctld
SlurmdPort=$port_d
CommunicationParameters=NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$tmp/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/slurmctld.pid
SlurmdPidFile=$tmp/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdTimeout=60
KillWait=5
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
NodeName=nstnode NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$cpus Gres=gpu:2 State=UNKNOWN
PartitionName=main Nodes=nstnode Default=YES MaxTime=INFINITE State=UP
EOF
# The fake GPUs' device files: /dev/tty1 and /dev/tty2, else (a container without them) two
# character devices made here with /dev/null's numbers. Slurm only looks at them; nothing opens
# them. NST_SLURM_MKNOD=1 makes them even where the ttys exist.
if [[ -c /dev/tty1 && -c /dev/tty2 && ${NST_SLURM_MKNOD:-0} != 1 ]]; then
  gpu_files="/dev/tty[1-2]"
else
  mkdir "$tmp/dev"
  mknod "$tmp/dev/gpu0" c 1 3 && mknod "$tmp/dev/gpu1" c 1 3 ||
    skip "no /dev/tty1 and /dev/tty2, and mknod cannot make the fake GPUs' device files"
  gpu_files="$tmp/dev/gpu[0-1]"
fi
printf 'AutoDetect=off\nName=gpu File=%s\n' "$gpu_files" >"$tmp/gres.conf"
export SLURM_CONF=$tmp/slurm.conf
t_setup=$(date +%s.%N)
slurmctld -D -i -f "$SLURM_CONF" >"$tmp/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N nstnode -f "$SLURM_CONF" >"$tmp/log/slurmd.out" 2>&1 &
pids+=($!)
node_idle() { [[ $(sinfo -h -n nstnode -o %T 2>/dev/null) == idle ]]; }
if ! wait_for 60 node_idle; then
  cat "$tmp/log/slurmctld.out" "$tmp/log/slurmd.out" >&2
  tail -n 20 "$tmp/log/slurmctld.log" "$tmp/log/slurmd.log" >&2 2>/dev/null || true
  skip "the single-node Slurm did not come up (node: '$(sinfo -h -o %T 2>&1)')"
fi
say "Slurm up in $(elapsed "$t_setup") s (node nstnode, $cpus CPUs, fake GPUs $gpu_files)"

# ---- the weights, the images, the manifests ---------------------------------------------------
# The shared data's candy, partial VGG19, photos and paintings; without it, random weights of
# the same layouts (the VGG19 narrow) and random images (tests/scripts/synthetic_models.py).
# Job 4 is the render shard 1 takes second: longer, so that the cancel below lands while it runs.
w=$tmp/work
data=${NST_SHARED_DATA:-$here/../shared/data}
if [[ -f $data/models/fast/candy.safetensors &&
      -f $data/models/vgg19-partial/vgg19_conv1_to_conv3.safetensors ]]; then
  tn=$data/models/fast/candy.safetensors
  vgg=$data/models/vgg19-partial/vgg19_conv1_to_conv3.safetensors
  contents=("$data"/images/content/{astronaut.png,coffee.png,chelsea.png,rocket.jpg})
  styles=("$data"/images/style/{starry_night.jpg,the_scream.jpg,great_wave.jpg,shipwreck.jpg})
  long=$'--iters=400'
  say "weights and images: $data"
else
  python3 "$here/tests/scripts/synthetic_models.py" "$w" || fail "synthetic_models.py failed"
  tn=$w/tn.safetensors
  vgg=$w/vgg.safetensors
  contents=("$w"/content_{0,1,2,3}.png)
  styles=("$w"/style_{0,1,2,3}.png)
  long=$'--size=64\t--iters=2000'
  say "weights and images: random (tests/scripts/synthetic_models.py; no $data)"
fi
for f in "$tn" "$vgg" "${contents[@]}" "${styles[@]}"; do [[ -f $f ]] || fail "$f is absent"; done
: >"$w/stylize.tsv"
for k in $(seq 1 12); do
  printf '%s\t%s/out/s_%02d.png\n' "${contents[(k - 1) % 4]}" "$tmp" "$k" >>"$w/stylize.tsv"
done
: >"$w/render.tsv"
for k in 1 2 3 4; do
  extra=""
  [[ $k == 4 ]] && extra=$'\t'$long
  printf '%s\t%s\t%s/out/r_%d.png%s\n' "${contents[k - 1]}" "${styles[k - 1]}" "$tmp" "$k" \
    "$extra" >>"$w/render.tsv"
done

submit() { # submit NAME RUN ARRAY COMMAND...: the job id; the log NAME-RUN-TASK.log
  local name=$1 run=$2 array=$3
  shift 3
  sbatch --parsable --job-name="$name" --array="$array" --gres=gpu:1 --cpus-per-task=1 \
    --output="$w/$name-$run-%a.log" --chdir="$w" \
    --wrap="echo CUDA_VISIBLE_DEVICES=\$CUDA_VISIBLE_DEVICES; exec $*"
}
stylize_cmd="$nstyle stylize --manifest $w/stylize.tsv -m $tn --size 32 \
--json $w/stylize-{shard}.json"
render_cmd="$nstyle render --manifest $w/render.tsv --model $vgg --device cpu --size 32 \
--iters 20 --content-layers relu3_2 --style-layers relu1_1,relu2_1,relu3_1 \
--json $w/render-{shard}.json"
gone() { [[ -z $(squeue -h -j "$1" 2>/dev/null) ]]; }

# ---- 1. both arrays ---------------------------------------------------------------------------
t_run=$(date +%s.%N)
sid=$(submit stylize 1 0-2 "$stylize_cmd") || fail "sbatch refused the stylize array"
rid=$(submit render 1 0-2 "$render_cmd") || fail "sbatch refused the render array"

# 2. while they run: cancel the render array's task 0 once its first render (line 1) is done
# and its second (line 4) runs
first_done() {
  python3 - "$w/render-1-of-3.json" <<'EOF' 2>/dev/null
import json, sys
s = json.load(open(sys.argv[1]))
r = {x["line"]: x["status"] for x in s["results"]}
sys.exit(0 if r.get(1) == "done" and r.get(4) == "pending" else 1)
EOF
}
wait_for 240 first_done || fail "the render shard 1 did not finish its first job in 240 s"
t_cancel=$(date +%s.%N)
scancel "${rid}_0"
wait_for 60 gone "${rid}_0" || fail "scancel did not end task ${rid}_0 in 60 s"
say "cancelled render task 0 after its first render; gone in $(elapsed "$t_cancel") s"
wait_for 300 gone "$sid" || fail "the stylize array did not finish in 300 s"
wait_for 300 gone "$rid" || fail "the render array did not finish in 300 s"
say "both arrays ran in $(elapsed "$t_run") s"

python3 - "$tmp/out" "$w" <<'EOF' || fail "the first run's outputs or summaries are wrong"
import glob, json, os, sys
out, w = sys.argv[1], sys.argv[2]
bad = []
def whole_png(p):
    with open(p, "rb") as f:
        b = f.read()
    return b[:8] == b"\x89PNG\r\n\x1a\n" and b[-12:-8] == b"\0\0\0\0" and b[-8:-4] == b"IEND"
names = sorted(os.listdir(out))
temps = [n for n in names if ".tmp-" in n]
if any(not n.startswith("r_4.png.tmp-") for n in temps):
    bad.append(f"temporaries left: {temps}")
for kind, n_jobs in (("stylize", 12), ("render", 4)):
    seen = {}
    for i in (1, 2, 3):
        path = f"{w}/{kind}-{i}-of-3.json"
        s = json.load(open(path))
        if (s["shard"], s["shards"], s["shard_from"]) != (i, 3, "slurm"):
            bad.append(f"{path}: shard {s['shard']}/{s['shards']} from {s['shard_from']}")
        if (s["threads"], s["threads_from"]) != (1, "SLURM_CPUS_PER_TASK"):
            bad.append(f"{path}: {s['threads']} threads from {s['threads_from']}")
        want = len(range(i - 1, n_jobs, 3))
        if s["jobs"] != want or len(s["results"]) != want:
            bad.append(f"{path}: {s['jobs']} jobs, want {want}")
        for r in s["results"]:
            seen.setdefault(r["output"], []).append((i, r["status"]))
        cancelled = kind == "render" and i == 1
        if not cancelled and not (s["ok"] and s["finished"] and s["done"] == want):
            bad.append(f"{path}: not all done: {s['done']} done, error {s['error']}")
        log = open(f"{w}/{kind}-1-{i - 1}.log").read()
        if "CUDA_VISIBLE_DEVICES=0" not in log and "CUDA_VISIBLE_DEVICES=1" not in log:
            bad.append(f"{kind} task {i - 1}: no fake GPU 0 or 1: {log[:200]!r}")
    if len(seen) != n_jobs:
        bad.append(f"{kind}: {len(seen)} outputs in the summaries, want {n_jobs}")
    for o, where in seen.items():
        if len(where) != 1:
            bad.append(f"{o} is in several shards: {where}")
        want_done = not (kind == "render" and o.endswith("r_4.png"))
        if want_done and (where[0][1] != "done" or not whole_png(o)):
            bad.append(f"{o}: {where}, whole PNG: {os.path.exists(o) and whole_png(o)}")
r1 = json.load(open(f"{w}/render-1-of-3.json"))
st = {r["line"]: r["status"] for r in r1["results"]}
if st.get(1) != "done" or st.get(4) not in ("pending", "cancelled") or r1["ok"]:
    bad.append(f"the cancelled render shard: {st}, ok {r1['ok']}")
if "CANCELLED" not in open(f"{w}/render-1-0.log").read():
    bad.append("render task 0's log does not say it was cancelled")
if os.path.exists(f"{out}/r_4.png"):
    bad.append("r_4.png exists after its render was cancelled")
print("\n".join(bad) or "first run: 12 stylized and 3 rendered outputs, each once and whole")
sys.exit(1 if bad else 0)
EOF

# ---- 3. the resubmitted array resumes ---------------------------------------------------------
stamp() { stat -c '%i %y' "$@"; }
before=$(stamp "$tmp"/out/r_1.png "$tmp"/out/r_2.png "$tmp"/out/r_3.png)
t_resume=$(date +%s.%N)
rid2=$(submit render 2 0-2 "$render_cmd") || fail "sbatch refused the render array again"
wait_for 300 gone "$rid2" || fail "the resubmitted render array did not finish in 300 s"
say "the resubmitted render array ran in $(elapsed "$t_resume") s"
[[ $(stamp "$tmp"/out/r_1.png "$tmp"/out/r_2.png "$tmp"/out/r_3.png) == "$before" ]] ||
  fail "a finished render was written again"
python3 - "$tmp/out" "$w" <<'EOF' || fail "the resumed run is wrong"
import json, os, sys
out, w = sys.argv[1], sys.argv[2]
bad = []
want = {1: {1: "skipped", 4: "done"}, 2: {2: "skipped"}, 3: {3: "skipped"}}
for i, lines in want.items():
    s = json.load(open(f"{w}/render-{i}-of-3.json"))
    got = {r["line"]: r["status"] for r in s["results"]}
    if got != lines or not s["ok"]:
        bad.append(f"render shard {i}: {got}, want {lines}; ok {s['ok']}, error {s['error']}")
if sorted(os.listdir(out)) != sorted([f"s_{k:02d}.png" for k in range(1, 13)] +
                                     [f"r_{k}.png" for k in range(1, 5)]):
    bad.append(f"the outputs: {sorted(os.listdir(out))}")
print("\n".join(bad) or "resumed: 3 renders skipped, the cancelled one done, no temporary")
sys.exit(1 if bad else 0)
EOF
say "passed in $(elapsed "$t_start") s"
