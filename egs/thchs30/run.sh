#!/usr/bin/env bash
# THCHS-30 (OpenSLR SLR18): 30 h of read Mandarin; labels are the corpus's own tonal pinyin (line 2 of each .wav.trn).
# Examples:
#   ./run.sh --corpus-dir /data/thchs30           # the corpus is on disk already (data_thchs30/ there): stage 0 checks it
#   ./run.sh                                   # stage 0 downloads it to data/local/thchs30 first
#   ./run.sh --stage 6 --stop-stage 7          # (re)train and decode
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec ../../run.sh --corpus thchs30 --config conf/default.yaml "$@"
