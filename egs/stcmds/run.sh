#!/usr/bin/env bash
# ST-CMDS (OpenSLR SLR38): 102,600 read utterances, 855 speakers, ~100 h; speaker-hash dev/test split.
# Examples (see README.md):
#   ./run.sh --corpus-dir /data/stcmds        # the whole recipe; stage 0 downloads unless the corpus is there
#   ./run.sh --stage 1 --corpus-dir /data/stcmds  # the corpus is already extracted there
#   ./run.sh --stage 6 --stop-stage 7     # (re)train and decode
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec ../../run.sh --corpus stcmds --config conf/default.yaml "$@"
