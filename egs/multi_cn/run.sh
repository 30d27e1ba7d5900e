#!/usr/bin/env bash
# multi_cn: the union of six open Mandarin corpora (AISHELL-1, THCHS-30, ST-CMDS, Primewords,
# aidatatang_200zh, MAGICDATA), about 1,360 h of speech. Each member is prepared by its own corpus module; training
# mixes them (train.mux_weights in conf/default.yaml), stage 7 scores each member's dev and test set.
# --corpus-dir holds one directory (or symlink) per member, named after it: aishell/ thchs30/ stcmds/
# primewords/ aidatatang_200zh/ magicdata/, each laid out as that corpus's own recipe expects.
# Examples:
#   ./run.sh --corpus-dir /data/multi_cn                   # stage 0 downloads the members that are missing
#   ./run.sh --corpus-dir /data/some_members --stage 1     # train on the members that are there only
#   rm -f exp/default/.done/stage[678]; ./run.sh --stage 6   # retrain, decode and package
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
# The shared pipeline is the checkout's run.sh; a recipe directory copied out of the checkout names one with
# ASRT_ROOT (and, with ASRT_VENV, a virtualenv where asrt is installed: docs/install.md).
root=../..
[ -f "$root/run.sh" ] || root=${ASRT_ROOT:?"this recipe directory is not in an asrt checkout: set ASRT_ROOT to one"}
exec "$root/run.sh" --corpus multi_cn --config conf/default.yaml "$@"
