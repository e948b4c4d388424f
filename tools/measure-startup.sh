#!/usr/bin/env bash
# Start-up of a whole `hpf match` process: the median wall time of N runs (default 5) of `./hpf match` on two 300 px
# images, each a new process. The first call builds hpf if needed and fills the weight cache (HPF_CACHE_DIR); it is
# reported on its own as the very first run ("no cache") and not counted.
#   tools/measure-startup.sh [N] [extra hpf match options...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-5}"; shift || true
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
export HPF_CACHE_DIR="$work/cache"
willow="$root/../shared/data/PF-WILLOW/car(S)"
if [ -d "$willow" ]; then
  set -- "$willow/Cars_000a.png" "$willow/Cars_001b.png" "$@"
else
  "$root/hpf" demo --out "$work/demo" >/dev/null
  set -- "$work/demo/source.png" "$work/demo/target.png" "$@"
fi
"$root/hpf" --version >/dev/null   # build if needed, outside the timing
time_one() { /usr/bin/time -f %e "$root/hpf" match "$@" --points "60,60;120,90" --out "$work/out" >/dev/null 2>"$work/time" || { cat "$work/time" >&2; exit 1; }; tail -1 "$work/time"; }
first=$(time_one "$@")
times=()
for _ in $(seq "$runs"); do times+=("$(time_one "$@")"); done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
echo "hpf match, whole process: median ${median} s of ${runs} (${times[*]}); the very first run (no weight cache): ${first} s"
