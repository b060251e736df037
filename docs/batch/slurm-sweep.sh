#!/bin/bash
# Every point of a sweep as a Slurm job array, then the collection that waits for all of them.
# The array's size is the number of points: `hotcold sweep scenarios/threshold-sweep.yaml --plan | wc -l`.
#
#   mkdir -p runs/sweep
#   n=$(hotcold sweep scenarios/threshold-sweep.yaml --plan | wc -l)
#   jid=$(sbatch --parsable --array=0-$((n - 1)) docs/batch/slurm-sweep.sh)
#   sbatch --dependency=afterok:$jid --wrap "hotcold sweep scenarios/threshold-sweep.yaml --collect runs/sweep"
#
#SBATCH --job-name=hotcold-sweep
#SBATCH --cpus-per-task=1
#SBATCH --mem=1G
#SBATCH --time=00:30:00
#SBATCH --output=runs/sweep/slurm-%A_%a.out
set -euo pipefail
hotcold sweep scenarios/threshold-sweep.yaml --point auto --out runs/sweep
