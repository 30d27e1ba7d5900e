#!/usr/bin/env bash
# aidatatang_200zh (OpenSLR SLR62): 200 h, 600 speakers; official train/dev/test.
# Examples (see README.md):
#   ./run.sh --corpus-dir /data/aidatatang_200zh        # the whole recipe; stage 0 downloads unless the corpus is there
#   ./run.sh --stage 1 --corpus-dir /data/aidatatang_200zh  # the corpus is already extracted there
#   ./run.sh --stage 6 --stop-stage 7     # (re)train and decode
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec ../../run.sh --corpus aidatatang_200zh --config conf/default.yaml "$@"
