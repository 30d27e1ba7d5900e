#!/usr/bin/env bash
# AISHELL-1 (OpenSLR SLR33): 178 h of read Mandarin, 400 speakers; the per-speaker tarballs are unpacked in stage 0.
# Examples:
#   ./run.sh --corpus-dir /data/aishell           # the corpus is on disk already (data_aishell/ there): stage 0 checks it
#   ./run.sh                                   # stage 0 downloads it to data/local/aishell first
#   rm -f exp/default/.done/stage[678]; ./run.sh --stage 6   # retrain, decode and package
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The shared pipeline is the checkout's run.sh; a recipe directory copied out of the checkout names one with
# ASRT_ROOT (and, with ASRT_VENV, a virtualenv where asrt is installed: docs/install.md).
root=../..
[ -f "$root/run.sh" ] || root=${ASRT_ROOT:?"this recipe directory is not in an asrt checkout: set ASRT_ROOT to one"}
exec "$root/run.sh" --corpus aishell --config conf/default.yaml "$@"
