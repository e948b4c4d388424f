#!/usr/bin/env bash
# Submits an hpf evaluate / transfer run as a Slurm job array of N shards plus a merge job that starts when every
# shard succeeded:  deploy/slurm/submit.sh N evaluate --dataset pfwillow --datapath /data/PF-WILLOW
# Prints the two job ids. HPF and HPF_OUT_DIR are passed on to the jobs (sbatch exports the environment).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
count="${1:?usage: submit.sh N evaluate|transfer ARGS...}"
shift
array=$(sbatch --parsable --array="1-$count" "$here/hpf-shard.sbatch" "$@")
merge=$(sbatch --parsable --dependency="afterok:$array" "$here/hpf-merge.sbatch" "$count")
echo "shards: job $array (array 1-$count); merge: job $merge"
