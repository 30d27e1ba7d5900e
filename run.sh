#!/usr/bin/env bash
# The shared asrt pipeline: audio to scored characters in numbered, resumable stages.
# Recipes (egs/<corpus>/run.sh) call it with their options; every stage is `asrt <verb>`.
#
#   0 download/synthesise   1 lhotse manifests   2 labels + lang   3 fbank features
#   4 KenLM n-gram          5 HLG graph          6 train CTC model 7 decode + score
#   8 package model directory
#
# Markers are the one record of a finished stage: stage N ends by writing .done/stageN (under $data_dir,
# the lang directory of units other than tonal pinyin for 2 and 5, $exp_dir for 6-8) and is skipped while
# that marker is there. Delete it to redo the stage from scratch (only that stage: delete the later ones
# too to redo what depends on it). A stage that started but never finished (killed) leaves
# .done/stageN.started instead; its next run gets --resume and keeps what was finished: stage 0's
# synthesised audio, stage 3's finished splits, stage 6's newest checkpoint. Stage 0 never fetches a
# corpus again that is in place. --num-gpus N trains with N DistributedDataParallel processes (torchrun);
# docs/training.md has a multi-node example. asrt/names.py says where every file goes.
set -euo pipefail

ASRT_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

corpus=mini_cmn        # a corpus module in asrt/corpora
corpus_dir=            # where the corpus is (or is downloaded/synthesised to); default data/local/$corpus
config=                # recipe YAML overriding asrt/conf/*.yaml
data_dir=data          # manifests, lang, features, LM
exp_dir=               # model, decoding results, package; default exp/<config name>
stage=0
stop_stage=8
num_jobs=2
results=RESULTS.md     # stage 7 adds a row here
lm_text=               # stage 2: more LM text, one sentence per line (several files: quoted, space-separated)
num_gpus=1             # stage 6: training processes per node; more than 1 launches torchrun (DDP)
num_nodes=1            # stage 6: nodes; more than 1 needs --rdzv-endpoint and this command on every node
rdzv_endpoint=         # stage 6: HOST:PORT of torchrun's c10d rendezvous, for --num-nodes > 1

help_message="Usage: run.sh [options]   (run from a recipe directory, e.g. egs/mini_cmn)"
. "$ASRT_ROOT/utils/log.sh"
. "$ASRT_ROOT/utils/run_stage.sh"   # run_stage N MARKER_DIR DESCRIPTION -- COMMAND...
. "$ASRT_ROOT/utils/parse_options.sh"
. "$ASRT_ROOT/path.sh"

corpus_dir=${corpus_dir:-$data_dir/local/$corpus}

# The stages' temporary files go to a folder of this run under $data_dir/tmp, removed when the run ends;
# a killed run's folder (Python's pymp-* folders, say) is removed by the next run.
tmp_root=$(realpath -m "$data_dir/tmp")
mkdir -p "$tmp_root"
for old_tmp in "$tmp_root"/run.*; do
  if [ -d "$old_tmp" ] && ! kill -0 "${old_tmp##*.}" 2>/dev/null; then rm -rf "$old_tmp"; fi
done
export TMPDIR=$tmp_root/run.$$
mkdir -p "$TMPDIR"
trap 'rm -rf "$TMPDIR"' EXIT
config_opt=()
[ -n "$config" ] && config_opt=(--config "$config")
lm_text_opt=()
[ -n "$lm_text" ] && read -ra lm_text_files <<< "$lm_text" && lm_text_opt=(--lm-text "${lm_text_files[@]}")

run_stage 0 "$data_dir" "get the $corpus corpus into $corpus_dir" -- \
  asrt download --corpus "$corpus" --corpus-dir "$corpus_dir" --num-jobs "$num_jobs" "${config_opt[@]}"

# Every name the stages pass each other (asrt/names.py). A union of corpora (multi_cn) knows its splits
# only once stage 0 has put its members in place, so this comes after stage 0.
paths=$(asrt paths --corpus "$corpus" --corpus-dir "$corpus_dir" --data-dir "$data_dir" --exp-dir "$exp_dir" \
  "${config_opt[@]}")
eval "$paths"

run_stage 1 "$data_dir" "lhotse manifests in $manifests" -- \
  asrt prepare --corpus "$corpus" --corpus-dir "$corpus_dir" --manifest-dir "$manifests"
run_stage 2 "$lang_markers" "labels and lang (tokens, lexicon) in $lang" -- \
  asrt lang --corpus "$corpus" --corpus-dir "$corpus_dir" --manifest-dir "$manifests" --lang-dir "$lang" \
    "${lm_text_opt[@]}" "${config_opt[@]}"
run_stage 3 "$data_dir" "fbank features in $fbank" -- \
  asrt features --corpus "$corpus" --corpus-dir "$corpus_dir" --manifest-dir "$manifests" --out-dir "$fbank" \
    --num-jobs "$num_jobs" "${config_opt[@]}"
run_stage 4 "$lm_dir" "KenLM n-gram LMs in $lm_dir" -- \
  asrt lm --lang-dir "$lang" --out "$arpa" "${config_opt[@]}"
run_stage 5 "$lang_markers" "HLG graph $hlg" -- \
  asrt graph --lang-dir "$lang" --arpa "$arpa"

trainer=(asrt)
if [ "$num_gpus" -gt 1 ] || [ "$num_nodes" -gt 1 ]; then
  # One process per GPU (or CPU process with train.device: cpu); asrt/train/trainer.py is the same code in each.
  rdzv=(--standalone)
  if [ "$num_nodes" -gt 1 ]; then
    [ -n "$rdzv_endpoint" ] || { log "--num-nodes $num_nodes needs --rdzv-endpoint HOST:PORT"; exit 1; }
    rdzv=(--nnodes "$num_nodes" --rdzv-backend c10d --rdzv-endpoint "$rdzv_endpoint" --rdzv-id "asrt-$config_name")
  fi
  trainer=(torchrun "${rdzv[@]}" --nproc-per-node "$num_gpus" -m asrt.cli)
fi
run_stage 6 "$exp_dir" "train the acoustic model in $exp_dir" -- \
  "${trainer[@]}" train --train-cuts "${train_cuts[@]}" --dev-cuts "${dev_cuts[@]}" --lang-dir "$lang" \
    --exp-dir "$exp_dir" "${config_opt[@]}"
run_stage 7 "$exp_dir" "decode and score ${eval_splits[*]}; add a row to $results" -- \
  asrt decode --exp-dir "$exp_dir" --lang-dir "$lang" --splits "${eval_splits[@]}" --cuts "${eval_cuts[@]}" \
    --results "$results" --rescore-lm "$rescore_lm" "${config_opt[@]}"
run_stage 8 "$exp_dir" "package the model in $model_dir" -- \
  asrt package --exp-dir "$exp_dir" --lang-dir "$lang" --out "$model_dir" --rescore-lm "$rescore_lm" "${config_opt[@]}"

log "Done: stages $stage..$stop_stage of $corpus"
