#!/usr/bin/env bash
# The embedded demo: the paper at miniature scale, offline, on a CPU, through the same
# DeepSpeed launcher as a cluster run. Sets the machine up first (scripts/setup.sh; skip with
# DEMO_SETUP=0). Reruns skip finished phases; an interrupted one resumes.
#
#   intermediate: approach english on real SQuAD v1.1 (XQuAD's English articles 1-32) vs none
#   targets:      UD-POS (trained on English EWT, zero-shot on de fr es zh ru hi),
#                 XQuAD (held-out articles, 6 languages), Tatoeba (8 languages, no training)
#   then:         the comparison report and the TensorBoard command
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ "${DEMO_SETUP:-1}" = 0 ] || bash scripts/setup.sh

ranks="${DEMO_RANKS:-2}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}" TOKENIZERS_PARALLELISM=false
common=(config=configs/demo.yaml "$@")
launch() { deepspeed --num_gpus "$ranks" "run_scripts/$1.sh" "${common[@]}" "${@:2}"; }

python3 -m xstilts demo-data runs/demo/data
launch intermediate approach=english intermediate=squad
for approach in english none; do
  launch target approach="$approach" intermediate=squad target=udpos eval.languages=en,de,fr,es,zh,ru,hi
  launch target approach="$approach" intermediate=squad target=xquad eval.languages=en,de,es,ru,zh,hi
  launch target approach="$approach" intermediate=squad target=tatoeba eval.languages=ar,de,es,fr,hi,ja,ru,zh
done
python3 -m xstilts report runs/demo
echo "Report: runs/demo/report/report.md (and .csv, .json, heatmap.png)"
echo "Compare the runs: tensorboard --logdir runs/demo"
