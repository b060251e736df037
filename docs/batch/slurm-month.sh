#!/bin/bash
# A 30-day ShopFlow run as a Slurm job array: 8 shards, then a merge that waits for all of them.
# Run from the repository root on a shared filesystem:
#
#   mkdir -p runs/month
#   jid=$(sbatch --parsable docs/batch/slurm-month.sh)
#   sbatch --dependency=afterok:$jid --wrap "hotcold merge runs/month/shard-* --out runs/month/run"
#
#SBATCH --job-name=hotcold-month
#SBATCH --array=0-7
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=01:00:00
#SBATCH --output=runs/month/slurm-%A_%a.out
set -euo pipefail
# SLURM_ARRAY_TASK_ID is 0..7: shard auto/8 reads it.
hotcold simulate scenarios/shopflow-month.yaml --quiet --shard auto/8 --out runs/month/shard-$SLURM_ARRAY_TASK_ID
