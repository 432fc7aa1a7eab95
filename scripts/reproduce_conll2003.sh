#!/usr/bin/env bash
# Reproduce the CoNLL-2003 English table of the README.
#
#   scripts/reproduce_conll2003.sh DATA_DIR EMBEDDINGS [OUT_DIR]
#
# DATA_DIR holds eng.train, eng.testa (dev: model selection) and eng.testb (test: read once per finished
# run, by `nertag eval`). EMBEDDINGS is a GloVe 6B 50d text file. Environment knobs:
#   SEEDS="1 2 3 4 5"   VARIANTS="full wide ..." (default: all_variants below)
#   PARALLEL=2 (runs at once, one thread each: processes here, or the workers of a local Dask cluster)
#   RUNS="full:1 full:2 nochar:1" (an explicit list instead of VARIANTS x SEEDS)
#   SCHEDULER=tcp://HOST:8786 | scheduler.json | local: run the runs as tasks on a Dask cluster (pip install
#     'nertag[dask]'), one run per one-thread worker; the paths must be the same on the workers (a shared
#     filesystem) and NERTAG a nertag they can run. Without it, PARALLEL processes here (xargs -P).
#   EPOCHS=50 (the recipe's), TRAIN_ARGS="" (more train options, last): other values only to try the mechanism
#   NERTAG=nertag, PYTHON=python3
# An interrupted script can be started again: finished runs are skipped, unfinished ones resume. Either way
# the table is the same: each run is one process with one thread, whose seed fixes its result.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DATA_DIR EMBEDDINGS [OUT_DIR]" >&2; exit 2; }
data=$1 emb=$2 out=${3:-runs/conll2003}
all_variants="full wide full_avg wide_avg nochar random nochar_wide_avg random_wide_avg lample ma_hovy
              distill_wide_avg lample_traindev ma_hovy_traindev distill15_lample distill15_lample_traindev
              distill15_lample_wiki"
seeds=${SEEDS:-1 2 3 4 5} variants=${VARIANTS:-$all_variants} parallel=${PARALLEL:-2}
nertag=${NERTAG:-nertag} python=${PYTHON:-python3}
# The README table's recipe, spelled out so that a change of the CLI defaults cannot change the table.
recipe="--optimizer adam --lr 0.001 --lr-decay 0.05 --clip 5 --batch-size 10 --dropout 0.5 --char-hidden 25
        --scheme bioes --epochs ${EPOCHS:-50} --patience 8"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

run() {  # variant seed
  local variant=$1 seed=$2 dir="$out/$1/seed$2" extra=() teachers=()
  local data_files=(--conll "$data/eng.train" --dev "$data/eng.testa")
  local train_and_dev=(--conll "$data/eng.train" --conll "$data/eng.testa")
  local glove=(--embeddings "$emb" --embeddings-vocab all)
  # The papers' own architectures with this recipe and GloVe-50d: Lample et al. (2016), a BiLSTM of
  # 100 + 100 over a character BiLSTM of 25 + 25; Ma and Hovy (2016), a BiLSTM of 200 + 200 over 30
  # character filters of width 3 on 30-d character embeddings.
  local lample=("${glove[@]}" --char-dim 25 --lowercase --hidden 100 --cell lstm --char-encoder lstm)
  local ma_hovy=("${glove[@]}" --char-dim 30 --char-hidden 30 --char-window 3 --lowercase --hidden 200
                 --cell lstm --char-encoder cnn)
  local wide_avg=("${glove[@]}" --char-dim 25 --lowercase --hidden 200 --ema-decay 0.999)
  local all15=({wide_avg,lample,ma_hovy}/seed{1,2,3,4,5})     # the 15 runs whose ensemble teaches
  case $variant in
    # Words are lowercased for lookup when the char BiGRU sees their case; without it they keep it.
    # The _avg variants evaluate and keep a moving average of the weights (the training is the same).
    full)     extra=("${glove[@]}" --char-dim 25 --lowercase --hidden 100) ;;
    wide)     extra=("${glove[@]}" --char-dim 25 --lowercase --hidden 200) ;;
    full_avg) extra=("${glove[@]}" --char-dim 25 --lowercase --hidden 100 --ema-decay 0.999) ;;
    wide_avg) extra=("${wide_avg[@]}") ;;
    nochar)   extra=("${glove[@]}" --char-dim 0 --no-lowercase --hidden 100) ;;
    random)   extra=(--word-dim 100 --char-dim 25 --lowercase --hidden 100) ;;   # random 100d word vectors
    # The two ablations of wide_avg.
    nochar_wide_avg) extra=("${glove[@]}" --char-dim 0 --no-lowercase --hidden 200 --ema-decay 0.999) ;;
    random_wide_avg) extra=(--word-dim 100 --char-dim 25 --lowercase --hidden 200 --ema-decay 0.999) ;;
    lample)   extra=("${lample[@]}") ;;
    ma_hovy)  extra=("${ma_hovy[@]}") ;;
    # Students: the gold data plus the tags that their teachers' ensemble (product of CRFs) gives eng.train.
    distill_wide_avg) extra=("${wide_avg[@]}") teachers=(wide_avg/seed{1,2,3,4,5}) ;;
    distill15_lample) extra=("${lample[@]}") teachers=("${all15[@]}") ;;
    # Their own rows, never dev-selected ones: trained on eng.train + eng.testa for the mean best epoch of
    # the variant's five runs (chosen on eng.testa), the last epoch's model kept.
    lample_traindev)  extra=("${lample[@]}" --epochs 30) data_files=("${train_and_dev[@]}") ;;
    ma_hovy_traindev) extra=("${ma_hovy[@]}" --epochs 28) data_files=("${train_and_dev[@]}") ;;
    # distill15_lample with more text for the teachers to tag: the words of the bundled WikiGold files
    # (Wikipedia, 39,007 tokens; their gold tags are not used).
    distill15_lample_wiki) extra=("${lample[@]}" --unlabeled "$wiki/train.conll" --unlabeled "$wiki/dev.conll"
                                  --unlabeled "$wiki/test.conll") teachers=("${all15[@]}") ;;
    # distill15_lample's students on eng.train + eng.testa (the teachers tag both), for its mean best epoch.
    distill15_lample_traindev) extra=("${lample[@]}" --epochs 20) data_files=("${train_and_dev[@]}")
                               teachers=("${all15[@]}") ;;
  esac
  local teacher
  for teacher in "${teachers[@]}"; do
    [ -f "$out/$teacher/test.json" ] ||
      { echo "$variant needs its teachers' runs first: $out/$teacher is not finished" >&2; return 1; }
    extra+=(--teacher "$out/$teacher/model")
  done
  if [ -f "$dir/test.json" ]; then return 0; fi
  mkdir -p "$dir"
  local resume=()
  [ -f "$dir/model/checkpoint.npz" ] && resume=(--resume "$dir/model")
  local start=$SECONDS
  "$nertag" train "${data_files[@]}" --model-dir "$dir/model" --seed "$seed" \
    $recipe --no-progress "${extra[@]}" "${resume[@]}" ${TRAIN_ARGS:-} >>"$dir/train.log" 2>&1 ||
    { echo "$variant seed $seed: training stopped, see $dir/train.log" >&2; return 1; }
  echo $((SECONDS - start)) >>"$dir/seconds"
  "$nertag" eval --conll "$data/eng.testb" --model "$dir/model" --json >"$dir/test.json.tmp"
  mv "$dir/test.json.tmp" "$dir/test.json"
}
wiki=$(cd "$(dirname "$0")/../data/wikigold" && pwd)
export -f run; export out emb data nertag recipe wiki

# RUN_ONE=variant:seed: this one run alone, its exit status the script's (what each Dask task runs).
if [ -n "${RUN_ONE:-}" ]; then run "${RUN_ONE%%:*}" "${RUN_ONE##*:}"; exit; fi

runs=${RUNS:-$(for v in $variants; do for s in $seeds; do printf '%s:%s ' "$v" "$s"; done; done)}
if [ -n "${SCHEDULER:-}" ]; then
  # One command per run, with absolute paths: the workers may start elsewhere.
  self=$(realpath "$0") nertag_path=$(command -v "$nertag" || echo "$nertag")
  for r in $runs; do
    printf 'RUN_ONE=%q NERTAG=%q EPOCHS=%q TRAIN_ARGS=%q bash %q %q %q %q\n' "$r" "$nertag_path" "${EPOCHS:-50}" \
      "${TRAIN_ARGS:-}" "$self" \
      "$(realpath "$data")" "$(realpath "$emb")" "$(realpath -m "$out")"
  done | "$python" "$(dirname "$0")/conll2003_table.py" --run "$SCHEDULER" --workers "$parallel" || true
else
  printf '%s\n' $runs | tr ':' ' ' | xargs -P "$parallel" -L 1 bash -c 'run $0 $1' || true
fi
"$python" "$(dirname "$0")/conll2003_table.py" "$out"
