#!/usr/bin/env bash
# ST-CMDS (OpenSLR SLR38): 102,600 read utterances, 855 speakers, ~100 h; speaker-hash dev/test split.
# Examples (see README.md):
#   ./run.sh --corpus-dir /data/stcmds        # the whole recipe; stage 0 downloads unless the corpus is there
#   ./run.sh --stage 1 --corpus-dir /data/stcmds  # the corpus is already extracted there
#   rm -f exp/default/.done/stage[678]; ./run.sh --stage 6   # retrain, decode and package
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The shared pipeline is the checkout's run.sh; a recipe directory copied out of the checkout names one with
# ASRT_ROOT (and, with ASRT_VENV, a virtualenv where asrt is installed: docs/install.md).
root=../..
[ -f "$root/run.sh" ] || root=${ASRT_ROOT:?"this recipe directory is not in an asrt checkout: set ASRT_ROOT to one"}
exec "$root/run.sh" --corpus stcmds --config conf/default.yaml "$@"
