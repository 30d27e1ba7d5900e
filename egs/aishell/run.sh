#!/usr/bin/env bash
# AISHELL-1 (OpenSLR SLR33): 178 h of read Mandarin, 400 speakers; the per-speaker tarballs are unpacked in stage 0.
# Examples:
#   ./run.sh --corpus-dir /data/aishell           # the corpus is on disk already (data_aishell/ there): stage 0 checks it
#   ./run.sh                                   # stage 0 downloads it to data/local/aishell first
#   ./run.sh --stage 6 --stop-stage 7          # (re)train and decode
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec ../../run.sh --corpus aishell --config conf/default.yaml "$@"
