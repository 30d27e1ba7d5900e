#!/usr/bin/env bash
# Primewords Chinese Corpus Set 1 (OpenSLR SLR47): ~100 h, 296 speakers; speaker-hash dev/test split.
# Examples (see README.md):
#   ./run.sh --corpus-dir /data/primewords        # the whole recipe; stage 0 downloads unless the corpus is there
#   ./run.sh --stage 1 --corpus-dir /data/primewords  # the corpus is already extracted there
#   ./run.sh --stage 6 --stop-stage 7     # (re)train and decode
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec ../../run.sh --corpus primewords --config conf/default.yaml "$@"
