#!/usr/bin/env bash
# MAGICDATA Mandarin Chinese Read Speech (OpenSLR SLR68): 755 h, 1,080 speakers; official train/dev/test.
# Examples (see README.md):
#   ./run.sh --corpus-dir /data/magicdata        # the whole recipe; stage 0 downloads unless the corpus is there
#   ./run.sh --stage 1 --corpus-dir /data/magicdata  # the corpus is already extracted there
#   ./run.sh --stage 6 --stop-stage 7     # (re)train and decode
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec ../../run.sh --corpus magicdata --config conf/default.yaml "$@"
