#!/usr/bin/env bash
# The embedded demo: the paper at miniature scale, offline, on a CPU, through the same
# DeepSpeed launcher as a cluster run. Sets the machine up first (scripts/setup.sh; skip with
# DEMO_SETUP=0). Reruns skip finished phases; an interrupted one resumes.
#
#   intermediate: approach english on real SQuAD v1.1 (XQuAD's English articles 1-32) vs none
#   targets:      UD-POS (trained on English EWT, zero-shot on de fr es zh ru hi),
#                 XQuAD (held-out articles, 6 languages), Tatoeba (8 languages, no training)
#   then:         the comparison report and the TensorBoard command
# The grid is configs/grids/demo.yaml; extra key=value arguments apply to every run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "${DEMO_SETUP:-1}" = 0 ] || bash scripts/setup.sh

ranks="${DEMO_RANKS:-2}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" TOKENIZERS_PARALLELISM=false

python3 -m toolkit demo-data runs/demo/data
# The whole grid (configs/grids/demo.yaml) in one launch; it ends by writing the report.
deepspeed --num_gpus "$ranks" run_scripts/grid.sh spec=configs/grids/demo.yaml "$@"
echo "Report: runs/demo/report/report.md (and .csv, .json, heatmap.png)"
echo "Compare the runs: tensorboard --logdir runs/demo"
