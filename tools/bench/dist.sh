#!/bin/sh
# tools/bench/dist.sh - data-parallel training throughput: nabla train
# --dist under mpirun beside PyTorch DDP (gloo; tools/bench/torch_ddp.py)
# for mlp784 (nabla's default spec = torch_bench.py's mlp784_net) and
# the cnn of nabla-bench, at 1 and 2 ranks (RANKS), one thread per rank,
# global batch 1024, and the fraction of nabla's allreduce time hidden
# behind backward:
#   hidden = 1 - exposed(buckets started during backward)
#                / exposed(every bucket started after backward)
# where exposed is the time rank 0 waits in nb_ddp_finish after the
# agreement check, when every rank has started every bucket (so the
# wait for a slow rank is not counted; the "dist" JSON event's
# exposed_ms_per_step; NABLA_DDP_AFTER_BACKWARD=1 gives the second).
# nabla's figure is the samples/s of its second epoch over Fashion-MNIST (or the synthetic
# set), data gathering included; PyTorch's is over fixed random tensors.
# Prints JSON lines and a table, with the load average before each run
# (the machine may be shared: say so beside any figure quoted).  Open
# MPI's ranks busy-poll while they wait; on a machine with more runnable
# processes than cores OMPI_MCA_mpi_yield_when_idle=1 (set here unless
# given) lets them yield the core to the rank that is still computing.
#
#   sh tools/bench/dist.sh [BUILD_DIR]     (RANKS="1 2 3" to add 3)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../_build}
nabla=$build/nabla
[ -x "$nabla" ] || { echo "dist.sh: no $nabla (make in $build)" >&2; exit 2; }
ranks=${RANKS:-1 2}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
root=
[ "$(id -u)" = 0 ] && root=--allow-run-as-root
OMPI_MCA_btl_vader_single_copy_mechanism=none
OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 NB_NUM_THREADS=1
export OMPI_MCA_btl_vader_single_copy_mechanism OPENBLAS_NUM_THREADS \
	OMP_NUM_THREADS NB_NUM_THREADS
load() { cut -d' ' -f1 /proc/loadavg; }

mlp="linear:256 batch_norm relu dropout:0.2 linear:256 batch_norm relu linear:10"
cnn="conv2d:16:3:padding=1 relu max_pool2d:2 conv2d:32:3:padding=1 relu max_pool2d:2 flatten linear:10"

# nabla W NP MODE: one run, its JSON lines tagged
nabla_run() {
	w=$1 np=$2 mode=$3
	case $w in
	mlp784) spec=$mlp limit=30720 ;;
	cnn) spec=$cnn limit=10240 ;;
	esac
	after=0 extra=
	case $mode in
	after) after=1 ;;
	small) extra="--bucket-mb 0.25" ;;
	esac
	l=$(load)
	# shellcheck disable=SC2086
	NABLA_DDP_AFTER_BACKWARD=$after timeout 900 mpirun $root \
		--oversubscribe --bind-to none -x NABLA_DDP_AFTER_BACKWARD \
		-np "$np" "$nabla" train --dist --json --threads 1 --batch 1024 \
		--epochs 2 --train-limit $limit --test-limit 1000 \
		--model "$spec" $extra |
		sed "s/^{/{\"engine\": \"nabla\", \"workload\": \"$w\", \"np\": $np, \"mode\": \"$mode\", \"load\": $l, /" |
		tee -a "$out"
}

# MPI_Allreduce alone (tools/bench/allreduce.c): alpha and beta here
OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
export OMPI_MCA_mpi_yield_when_idle
for np in $ranks; do
	[ "$np" -gt 1 ] || continue
	l=$(load)
	timeout 300 mpirun $root --oversubscribe --bind-to none -np "$np" \
		"$build/tools/bench/nabla-allreduce" |
		sed "s/^{/{\"engine\": \"allreduce\", \"load\": $l, /" | tee -a "$out"
done

for w in mlp784 cnn; do
	for np in $ranks; do
		nabla_run $w "$np" during
		if [ "$np" -gt 1 ]; then
			nabla_run $w "$np" after
			nabla_run $w "$np" small
		fi
		l=$(load)
		steps=20
		[ $w = cnn ] && steps=8
		timeout 900 /usr/bin/python3 "$here/torch_ddp.py" $w --ranks "$np" \
			--steps $steps |
			sed "s/^{/{\"np\": $np, \"load\": $l, /" | tee -a "$out"
	done
done
/usr/bin/python3 - "$out" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
nab, tor = {}, {}
for r in rows:
    if r.get("engine") == "nabla":
        k = (r["workload"], r["np"], r["mode"])
        d = nab.setdefault(k, {"load": r["load"]})
        if r.get("event") == "epoch":
            d["sps"] = r["samples_per_s"]
        if r.get("event") == "dist":
            d["wait"] = r["wait_ms_per_step"]
            d["exposed"] = r["exposed_ms_per_step"]
    elif r.get("engine", "").startswith("torch"):
        tor[(r["workload"], r["np"])] = (r["samples_per_s"], r["load"])
print("\n%-7s %3s  %-22s %10s %8s %9s %9s %6s" % ("model", "np", "engine",
      "samples/s", "x 1 rank", "wait ms", "exposed", "load"))
for (w, np, mode), d in sorted(nab.items()):
    one = nab.get((w, 1, "during"), {}).get("sps")
    print("%-7s %3d  %-22s %10.0f %8.2f %9.2f %9.3f %6.2f" % (w, np,
          "nabla (%s)" % ("25 MiB buckets" if mode == "during" else
                          "after backward" if mode == "after" else
                          "0.25 MiB buckets"),
          d.get("sps", 0), d.get("sps", 0) / one if one else 0,
          d.get("wait", 0), d.get("exposed", 0), d["load"]))
for (w, np), (sps, l) in sorted(tor.items()):
    one = tor.get((w, 1), (0,))[0]
    print("%-7s %3d  %-22s %10.0f %8.2f %9s %9s %6.2f" % (w, np,
          "pytorch ddp gloo", sps, sps / one if one else 0, "", "", l))
ar = [r for r in rows if r.get("engine") == "allreduce"]
for np in sorted({r["ranks"] for r in ar}):
    pts = sorted((r["bytes"], r["min_us"]) for r in ar if r["ranks"] == np)
    # latency: the 512-byte call (smaller ones may find the partner's
    # data already there); bandwidth: the two largest
    (b0, t0) = [q for q in pts if q[0] >= 512][0]
    (b1, t1), (b2, t2) = pts[-2], pts[-1]
    f = 2 * (np - 1) / np
    beta = f * (b2 - b1) / ((t2 - t1) * 1e-6) if t2 > t1 else 0
    print("allreduce np %d (min): %s; alpha-beta fit: 2(p-1) alpha = %.1f "
          "us, B = %.2f GB/s" % (np, ", ".join("%d B %.1f us" % q
                                             for q in pts), t0, beta / 1e9))
for (w, np, mode), d in sorted(nab.items()):
    if mode == "after" and d.get("exposed"):
        for m in ("during", "small"):
            dd = nab.get((w, np, m), {})
            if "exposed" in dd:
                print("%s np %d: hidden behind backward (%s): %.0f%% "
                      "(exposed %.3f of %.3f ms)" % (w, np, m,
                      100 * max(0.0, 1 - dd["exposed"] / d["exposed"]),
                      dd["exposed"], d["exposed"]))
PY
