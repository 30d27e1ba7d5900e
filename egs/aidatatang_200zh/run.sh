#!/usr/bin/env bash
# aidatatang_200zh (OpenSLR SLR62): 200 h, 600 speakers; official train/dev/test.
# Examples (see README.md):
#   ./run.sh --corpus-dir /data/aidatatang_200zh        # the whole recipe; stage 0 downloads unless the corpus is there
#   ./run.sh --stage 1 --corpus-dir /data/aidatatang_200zh  # the corpus is already extracted there
#   rm -f exp/default/.done/stage[678]; ./run.sh --stage 6   # retrain, decode and package
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The shared pipeline is the checkout's run.sh; a recipe directory copied out of the checkout names one with
# ASRT_ROOT (and, with ASRT_VENV, a virtualenv where asrt is installed: docs/install.md).
root=../..
[ -f "$root/run.sh" ] || root=${ASRT_ROOT:?"this recipe directory is not in an asrt checkout: set ASRT_ROOT to one"}
exec "$root/run.sh" --corpus aidatatang_200zh --config conf/default.yaml "$@"
