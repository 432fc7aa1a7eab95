#!/usr/bin/env bash
# Reproduce the CoNLL-2003 English table of the README.
#
#   scripts/reproduce_conll2003.sh DATA_DIR EMBEDDINGS [OUT_DIR]
#
# DATA_DIR holds eng.train, eng.testa (dev: model selection) and eng.testb (test: read once per finished
# run, by `nertag eval`). EMBEDDINGS is a GloVe 6B 50d text file. Environment knobs:
#   SEEDS="1 2 3 4 5"   VARIANTS="full nochar random"   PARALLEL=2 (runs at once; each one thread)
#   RUNS="full:1 full:2 nochar:1" (an explicit list instead of VARIANTS x SEEDS)
# An interrupted script can be started again: finished runs are skipped, unfinished ones resume.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DATA_DIR EMBEDDINGS [OUT_DIR]" >&2; exit 2; }
data=$1 emb=$2 out=${3:-runs/conll2003}
seeds=${SEEDS:-1 2 3 4 5} variants=${VARIANTS:-full nochar random} parallel=${PARALLEL:-2}
nertag=${NERTAG:-nertag}
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

run() {  # variant seed
  local variant=$1 seed=$2 dir="$out/$1/seed$2" extra=()
  case $variant in
    full)   extra=(--embeddings "$emb" --embeddings-vocab all) ;;                 # GloVe 50d + char BiGRU
    nochar) extra=(--embeddings "$emb" --embeddings-vocab all --char-dim 0) ;;    # GloVe 50d, no chars
    random) extra=(--word-dim 100) ;;                      # random 100d word vectors + char BiGRU
  esac
  if [ -f "$dir/test.json" ]; then return 0; fi
  mkdir -p "$dir"
  local resume=()
  [ -f "$dir/model/checkpoint.npz" ] && resume=(--resume "$dir/model")
  local start=$SECONDS
  "$nertag" train --conll "$data/eng.train" --dev "$data/eng.testa" --model-dir "$dir/model" \
    --seed "$seed" --epochs 40 --patience 6 --no-progress "${extra[@]}" "${resume[@]}" >>"$dir/train.log" 2>&1 ||
    { echo "$variant seed $seed: training stopped, see $dir/train.log" >&2; return 1; }
  echo $((SECONDS - start)) >>"$dir/seconds"
  "$nertag" eval --conll "$data/eng.testb" --model "$dir/model" --json >"$dir/test.json.tmp"
  mv "$dir/test.json.tmp" "$dir/test.json"
}
export -f run; export out emb data nertag

runs=${RUNS:-$(for v in $variants; do for s in $seeds; do printf '%s:%s ' "$v" "$s"; done; done)}
printf '%s\n' $runs | tr ':' ' ' | xargs -P "$parallel" -L 1 bash -c 'run $0 $1' || true
python3 "$(dirname "$0")/conll2003_table.py" "$out"
