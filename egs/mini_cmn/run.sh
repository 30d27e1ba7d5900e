#!/usr/bin/env bash
# mini_cmn: synthetic Mandarin speech (espeak-ng, voice cmn-latn-pinyin) from People's Daily 1998 text.
# Runs anywhere on a CPU. Examples:
#   ./run.sh                              # the whole recipe with conf/default.yaml
#   ./run.sh --config conf/ci.yaml        # every stage in a few minutes
#   rm -f exp/default/.done/stage[678]; ./run.sh --stage 6   # retrain, decode and package
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The shared pipeline is the checkout's run.sh; a recipe directory copied out of the checkout names one with
# ASRT_ROOT (and, with ASRT_VENV, a virtualenv where asrt is installed: docs/install.md).
root=../..
[ -f "$root/run.sh" ] || root=${ASRT_ROOT:?"this recipe directory is not in an asrt checkout: set ASRT_ROOT to one"}
exec "$root/run.sh" --corpus mini_cmn --config conf/default.yaml "$@"
