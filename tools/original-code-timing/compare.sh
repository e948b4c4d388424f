#!/usr/bin/env bash
# The paper path against the original code, side by side on this machine: ROUNDS rounds, each timing the original
# code (time_original.py) and then `hpf bench --preset paper` on the same PAIRS PF-WILLOW pairs with the same layers;
# prints each round's cold-pair medians and the median of the per-round ratios. Run from the repository root:
#
#   tools/original-code-timing/compare.sh HPF_CHECKOUT DATAPATH [ROUNDS=5] [PAIRS=20] [THREADS=0]
#
# THREADS is the original code's torch thread count (0 = one per core, as hpf uses; torch's own default on some
# machines is 1). The bundled weights are exported to a temporary file first; nothing is left behind.
set -euo pipefail
checkout=${1:?checkout of github.com/juhongm999/hpf}
datapath=${2:?PF-WILLOW root}
rounds=${3:-5}
pairs=${4:-20}
threads=${5:-0}
python=${PYTHON:-/usr/bin/python3}   # Debian's, with python3-torch and python3-torchvision
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/hpf-original-timing.XXXXXX)
trap 'rm -rf "$work"' EXIT

./hpf backbones resnet18-cntk --export-weights "$work/resnet18-cntk.safetensors" >/dev/null
layers=$(./hpf bench --datapath "$datapath" --preset paper --pairs 1 --repeat 1 --json "$work/layers.json" >/dev/null &&
    python3 -c "import json,sys; print(','.join(map(str, json.load(open(sys.argv[1]))['layers'])))" "$work/layers.json")
echo "layers $layers (the paper preset's), $pairs pairs, $rounds rounds, original code threads: ${threads/#0/one per core}"
for round in $(seq 1 "$rounds"); do
    "$python" "$here/time_original.py" --hpf "$checkout" --weights "$work/resnet18-cntk.safetensors" --datapath "$datapath" \
        --pairs "$pairs" --repeat 1 --layers "$layers" --threads "$threads" --json "$work/original-$round.json" >/dev/null
    ./hpf bench --datapath "$datapath" --preset paper --pairs "$pairs" --repeat 2 --json "$work/hpf-$round.json" >/dev/null
    python3 - "$work/original-$round.json" "$work/hpf-$round.json" "$round" <<'EOF'
import json, sys
original, ours = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(f"round {sys.argv[3]}: original {original['median_s']:.4f} s ({original['threads']} threads, {original['blas']}), "
      f"hpf paper {ours['cold_pair_s']:.4f} s: {original['median_s'] / ours['cold_pair_s']:.2f}x")
EOF
done
python3 - "$work" "$rounds" <<'EOF'
import json, statistics, sys
rounds = [(json.load(open(f"{sys.argv[1]}/original-{r}.json"))["median_s"], json.load(open(f"{sys.argv[1]}/hpf-{r}.json"))["cold_pair_s"])
          for r in range(1, int(sys.argv[2]) + 1)]
print(f"medians over rounds: original {statistics.median(o for o, _ in rounds):.4f} s, "
      f"hpf paper {statistics.median(h for _, h in rounds):.4f} s, ratio {statistics.median(o / h for o, h in rounds):.2f}x")
EOF
