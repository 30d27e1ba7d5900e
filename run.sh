#!/usr/bin/env bash
# The shared asrt pipeline: audio to scored characters in numbered, resumable stages.
# Recipes (egs/<corpus>/run.sh) call it with their options; every stage is `asrt <verb>`.
#
#   0 download/synthesise   1 lhotse manifests   2 labels + lang   3 fbank features
#   4 KenLM n-gram          5 HLG graph          6 train CTC model 7 decode + score
#   8 package model directory
#
# A finished stage leaves a marker under $data_dir/.done or $exp_dir/.done and is skipped when rerun;
# training resumes from its newest checkpoint. Delete a marker to redo a stage. --num-gpus N trains with N
# DistributedDataParallel processes (torchrun); README.md has a multi-node example.
set -euo pipefail

ASRT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

corpus=mini_cmn        # a corpus module in asrt/corpora
corpus_dir=            # where the corpus is (or is downloaded/synthesised to); default data/local/$corpus
config=                # recipe YAML overriding $ASRT_ROOT/conf/*.yaml
data_dir=data          # manifests, lang, features, LM
exp_dir=               # model, decoding results, package; default exp/<config name>
stage=0
stop_stage=8
num_jobs=2
results=RESULTS.md     # stage 7 adds a row here
num_gpus=1             # stage 6: training processes per node; more than 1 launches torchrun (DDP)
num_nodes=1            # stage 6: nodes; more than 1 needs --rdzv-endpoint and this command on every node
rdzv_endpoint=         # stage 6: HOST:PORT of torchrun's c10d rendezvous, for --num-nodes > 1

help_message="Usage: run.sh [options]   (run from a recipe directory, e.g. egs/mini_cmn)"
. "$ASRT_ROOT/utils/log.sh"
. "$ASRT_ROOT/utils/parse_options.sh"
. "$ASRT_ROOT/path.sh"

corpus_dir=${corpus_dir:-$data_dir/local/$corpus}
config_name=$(basename "${config:-default}" .yaml)
exp_dir=${exp_dir:-exp/$config_name}
config_opt=()
[ -n "$config" ] && config_opt=(--config "$config")
manifests=$data_dir/manifests
# The lang directory of the config's output units (lang.units): data/lang for tonal pinyin, else
# data/lang_<units> (asrt/units.py), beside the shared manifests, features and LM.
lang=$data_dir/$(python -c "import sys; from asrt.config import load_config; from asrt.units import lang_dir_name
print(lang_dir_name(load_config(sys.argv[1] or None).get('lang')))" "$config")
lang_marker_dir=$data_dir  # stages 2 and 5 of other units keep their markers in their own lang directory
[ "$lang" = "$data_dir/lang" ] || lang_marker_dir=$lang
fbank=$data_dir/fbank
arpa=$data_dir/lm/lm.arpa

# run_stage N MARKER_DIR DESCRIPTION -- COMMAND...: run COMMAND for stage N unless its marker exists.
run_stage() {
  local n=$1 marker_dir=$2 desc=$3
  shift 4
  [ "$stage" -le "$n" ] && [ "$stop_stage" -ge "$n" ] || return 0
  local marker=$marker_dir/.done/stage$n
  if [ -f "$marker" ]; then
    log "Stage $n: $desc: done before ($marker), skipping"
    return 0
  fi
  log "Stage $n: $desc"
  "$@"
  mkdir -p "$marker_dir/.done" && touch "$marker"
}

run_stage 0 "$data_dir" "get the $corpus corpus into $corpus_dir" -- \
  asrt download --corpus "$corpus" --corpus-dir "$corpus_dir" --num-jobs "$num_jobs" "${config_opt[@]}"
run_stage 1 "$data_dir" "lhotse manifests in $manifests" -- \
  asrt prepare --corpus "$corpus" --corpus-dir "$corpus_dir" --manifest-dir "$manifests"
run_stage 2 "$lang_marker_dir" "tonal-pinyin labels and lang (tokens, lexicon) in $lang" -- \
  asrt lang --corpus "$corpus" --corpus-dir "$corpus_dir" --manifest-dir "$manifests" --lang-dir "$lang" \
    "${config_opt[@]}"
run_stage 3 "$data_dir" "fbank features in $fbank" -- \
  asrt features --corpus "$corpus" --corpus-dir "$corpus_dir" --manifest-dir "$manifests" --out-dir "$fbank" \
    --num-jobs "$num_jobs" "${config_opt[@]}"
run_stage 4 "$data_dir" "KenLM n-gram LM $arpa" -- \
  asrt lm --lang-dir "$lang" --out "$arpa" "${config_opt[@]}"
run_stage 5 "$lang_marker_dir" "HLG graph $lang/HLG.fst" -- \
  asrt graph --lang-dir "$lang" --arpa "$arpa"

# Which splits train (NAME=SPLIT; a union of corpora trains on several), validate and get scored: the
# corpus module says, once stage 0 has put the corpus (or, for a union, its members) in place.
splits() {
  python -c "from asrt.corpora import corpus_splits as c; s = c('$corpus', '$corpus_dir')
print(*(f'{n}={x}' for n, x in s.train.items())); print(*s.dev); print(*s.evaluate)"
}
train_splits="" dev_splits="" eval_splits=""
if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 6 ]; then
  split_lines=$(splits)
  { read -r train_splits; read -r dev_splits; read -r eval_splits; } <<< "$split_lines"
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  log "Stage 6: train the acoustic model in $exp_dir (resumes from its newest checkpoint)"
  train_cuts=() dev_cuts=()
  for t in $train_splits; do train_cuts+=("${t%%=*}=$fbank/${corpus}_cuts_${t#*=}.jsonl.gz"); done
  for s in $dev_splits; do dev_cuts+=("$fbank/${corpus}_cuts_$s.jsonl.gz"); done
  trainer=(asrt)
  if [ "$num_gpus" -gt 1 ] || [ "$num_nodes" -gt 1 ]; then
    # One process per GPU (or CPU process with train.device: cpu); asrt/train.py is the same code in each.
    rdzv=(--standalone)
    if [ "$num_nodes" -gt 1 ]; then
      [ -n "$rdzv_endpoint" ] || { log "--num-nodes $num_nodes needs --rdzv-endpoint HOST:PORT"; exit 1; }
      rdzv=(--nnodes "$num_nodes" --rdzv-backend c10d --rdzv-endpoint "$rdzv_endpoint" --rdzv-id "asrt-$config_name")
    fi
    trainer=(torchrun "${rdzv[@]}" --nproc-per-node "$num_gpus" -m asrt.cli)
  fi
  "${trainer[@]}" train --train-cuts "${train_cuts[@]}" --dev-cuts "${dev_cuts[@]}" --lang-dir "$lang" \
    --exp-dir "$exp_dir" "${config_opt[@]}"
fi

cuts=()
for s in $eval_splits; do cuts+=("$fbank/${corpus}_cuts_$s.jsonl.gz"); done
run_stage 7 "$exp_dir" "decode and score $eval_splits; add a row to $results" -- \
  asrt decode --exp-dir "$exp_dir" --lang-dir "$lang" --splits $eval_splits --cuts "${cuts[@]}" \
    --results "$results" "${config_opt[@]}"
run_stage 8 "$exp_dir" "package the model in $exp_dir/model" -- \
  asrt package --exp-dir "$exp_dir" --lang-dir "$lang" --out "$exp_dir/model" "${config_opt[@]}"

log "Done: stages $stage..$stop_stage of $corpus"
