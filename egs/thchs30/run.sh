#!/usr/bin/env bash
# THCHS-30 (OpenSLR SLR18): 30 h of read Mandarin; labels are the corpus's own tonal pinyin (line 2 of each .wav.trn).
# Examples:
#   ./run.sh --corpus-dir /data/thchs30           # the corpus is on disk already (data_thchs30/ there): stage 0 checks it
#   ./run.sh                                   # stage 0 downloads it to data/local/thchs30 first
#   rm -f exp/default/.done/stage[678]; ./run.sh --stage 6   # retrain, decode and package
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The shared pipeline is the checkout's run.sh; a recipe directory copied out of the checkout names one with
# ASRT_ROOT (and, with ASRT_VENV, a virtualenv where asrt is installed: docs/install.md).
root=../..
[ -f "$root/run.sh" ] || root=${ASRT_ROOT:?"this recipe directory is not in an asrt checkout: set ASRT_ROOT to one"}
exec "$root/run.sh" --corpus thchs30 --config conf/default.yaml "$@"
