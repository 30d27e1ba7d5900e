#!/usr/bin/env bash
# mini_cmn: synthetic Mandarin speech (espeak-ng, voice cmn-latn-pinyin) from People's Daily 1998 text.
# Runs anywhere on a CPU. Examples:
#   ./run.sh                              # the whole recipe with conf/default.yaml
#   ./run.sh --config conf/ci.yaml        # every stage in a few minutes
#   ./run.sh --stage 6 --stop-stage 7     # (re)train and decode
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
exec ../../run.sh --corpus mini_cmn --config conf/default.yaml "$@"
