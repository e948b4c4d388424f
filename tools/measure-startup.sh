#!/usr/bin/env bash
# Start-up of a whole `hpf match` process: the median wall time of N runs (default 5) of `./hpf match` on two 300 px
# images, each a new process, and the median time from the launch to each phase (HPF_STARTUP_TRACE). The first call
# builds hpf if needed and fills the weight cache (HPF_CACHE_DIR); it is reported on its own as the very first run
# ("no cache") and not counted.
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
# One whole process: prints its wall time in seconds; its phase marks go to $work/phases.
time_one() {
  HPF_STARTUP_TRACE=$(date +%s%N) /usr/bin/time -f "wall %e" "$root/hpf" match "$@" --points "60,60;120,90" --out "$work/out" >/dev/null 2>"$work/err" \
    || { cat "$work/err" >&2; exit 1; }
  grep '^startup: ' "$work/err" >> "$work/phases" || true
  awk '/^wall / { print $2 }' "$work/err"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
first=$(time_one "$@")
: > "$work/phases"
times=()
for _ in $(seq "$runs"); do times+=("$(time_one "$@")"); done
echo "phases (median ms from the launch):"
awk '{ ms = $2; $1 = $2 = $3 = ""; sub(/^ +/, ""); sub(/ \(compiled.*/, ""); print ms "\t" $0 }' "$work/phases" |
  awk -F'\t' '!($2 in seen) { seen[$2] = 1; order[++n] = $2 } { v[$2] = v[$2] " " $1 } END { for (i = 1; i <= n; i++) print order[i] "\t" v[order[i]] }' |
  while IFS=$'\t' read -r phase values; do printf '  %-14s %s\n' "$phase" "$(tr ' ' '\n' <<<"$values" | grep . | median)"; done
median=$(printf '%s\n' "${times[@]}" | median)
echo "hpf match, whole process: median ${median} s of ${runs} (${times[*]}); the very first run (no weight cache): ${first} s"
