#!/bin/sh
# tools/bench/charlm_compare.sh - the character models of
# `nabla train --text` against the same recipes in PyTorch
# (tools/bench/charlm.py), seed by seed, on one text: held-out bits per
# character after each epoch and milliseconds per training window, at
# one thread.  Prints JSON lines (engine, model, seed, epoch, bpc, ms)
# and a table of the final epoch: mean held-out bpc per engine and model
# and their difference (doc/sequence.md).
#
#   sh tools/bench/charlm_compare.sh [BUILD_DIR] [TEXT] [EPOCHS] [SEEDS]
#   (MODELS="lstm" or "gpt" runs one of the two recipes)
#
# PAIRED=1 (the LSTM only) starts nabla from the weights PyTorch drew for
# the same seed (charlm.py --save-init, nabla's --init-from), so that
# the two differ in training alone, not in their initial draws.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../_build}
text=${2:-/usr/share/games/fortunes/computers}
epochs=${3:-5}
seeds=${4:-"1 2 3"}
nabla=$build/nabla
[ -x "$nabla" ] || { echo "charlm_compare.sh: no $nabla" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out" "$out.init.safetensors"' EXIT
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
common="--batch 32 --steps 64 --lr 0.002 --clip-norm 5 --epochs $epochs"
# The alphabet's size, for the head of the specs.
V=$(od -An -v -tu1 "$text" | tr -s ' ' '\n' | sed '/^$/d' | sort -un | wc -l)
lstm="embedding:64 lstm:256 linear:$V"
gpt="embedding:128 learned_positions 4x(transformer_encoder_layer:4,dim_feedforward=512,dropout=0,gelu=1,norm_first=1,causal=1) layer_norm linear:$V"
echo "# $(date -u +%FT%TZ) $(uname -n), text $text (alphabet $V), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
paired=${PAIRED:-0}
if [ "$paired" = 1 ]; then
	MODELS=lstm
	lstm="embedding:64@emb lstm:256@lstm linear:$V@head"
fi
for seed in $seeds; do
	for model in ${MODELS:-lstm gpt}; do
		spec=$lstm
		init=
		[ $model = gpt ] && spec=$gpt
		if [ "$paired" = 1 ]; then
			init=$out.init.safetensors
			/usr/bin/python3 "$here/charlm.py" --text "$text" \
				--model $model --threads 1 $common --seed "$seed" \
				--save-init "$init" --epochs 0 >/dev/null
		fi
		"$nabla" train --text "$text" --model "$spec" --threads 1 \
			--optim adam $common --seed "$seed" --json \
			${init:+--init-from "$init"} |
			sed -n 's/.*"epoch": \([0-9]*\),.*"test_bpc": \([0-9.]*\),.*"ms_per_window": \([0-9.]*\).*/{"engine": "nabla", "model": "'$model'", "seed": '$seed', "epoch": \1, "held_out_bpc": \2, "ms_per_step": \3}/p' |
			tee -a "$out"
		/usr/bin/python3 "$here/charlm.py" --text "$text" --model $model \
			--threads 1 $common --seed "$seed" | tee -a "$out"
	done
done
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
/usr/bin/python3 - "$out" "$epochs" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
last = int(sys.argv[2])
print("%-6s %-8s %6s %12s %12s %10s" % ("model", "engine", "seeds",
      "bpc (mean)", "bpc (each)", "ms/window"))
mean = {}
for model in ("lstm", "gpt"):
    for engine in ("nabla", "pytorch"):
        r = [x for x in rows if x["model"] == model and
             x["engine"] == engine and x["epoch"] == last]
        if not r:
            continue
        b = [x["held_out_bpc"] for x in r]
        ms = statistics.median(x["ms_per_step"] for x in rows
                               if x["model"] == model and
                               x["engine"] == engine)
        mean[model, engine] = statistics.mean(b)
        print("%-6s %-8s %6d %12.4f %12s %10.1f" % (model, engine, len(b),
              mean[model, engine], " ".join("%.3f" % v for v in b), ms))
    if (model, "nabla") in mean and (model, "pytorch") in mean:
        print("%-6s nabla - pytorch: %+.4f bits per character" % (model,
              mean[model, "nabla"] - mean[model, "pytorch"]))
PY
