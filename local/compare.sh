#!/usr/bin/env bash
# Cross-corpus comparison of recipes' packaged models: every model decodes every single-corpus
# recipe's test set (asrt compare). Writes matrix.md, matrix.json and matrix.png to --out-dir.
#
# Usage: local/compare.sh [options] <recipe> <recipe> ...     (from anywhere)
#   e.g. local/compare.sh aishell thchs30 stcmds primewords aidatatang_200zh magicdata multi_cn
# Rows: egs/<recipe>/exp/<config>/model (stage 8) of every recipe. Columns: the test set
# egs/<recipe>/data/fbank/<recipe>_cuts_test.jsonl.gz (stage 3) of every recipe but multi_cn, whose
# test sets are its members'.
set -euo pipefail

config=default         # experiment name: models are egs/<recipe>/exp/<config>/model
out_dir=exp/compare    # relative to the current directory
num_threads=1

help_message="Usage: local/compare.sh [options] <recipe> <recipe> ..."
. "$(dirname "${BASH_SOURCE[0]}")/../utils/log.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../utils/parse_options.sh"
[ $# -ge 1 ] || { echo "$help_message" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/../path.sh"   # sets ASRT_ROOT

args=()
for recipe in "$@"; do
  args+=(--model "$recipe=$ASRT_ROOT/egs/$recipe/exp/$config/model")
  [ "$recipe" != multi_cn ] || continue
  paths=$(asrt paths --corpus "$recipe" --data-dir "$ASRT_ROOT/egs/$recipe/data")  # the recipe's file names
  eval "$paths"
  for i in "${!eval_splits[@]}"; do
    [ "${eval_splits[$i]}" != test ] || args+=(--test "$recipe=${eval_cuts[$i]}")
  done
done
log "Comparing $*: matrix in $out_dir"
asrt compare "${args[@]}" --out-dir "$out_dir" --num-threads "$num_threads"
