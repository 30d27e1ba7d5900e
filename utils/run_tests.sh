#!/usr/bin/env bash
# Run the test suite; on a fresh machine this first sets everything up (via path.sh).
#
# Usage: utils/run_tests.sh [pytest arguments...]
#   utils/run_tests.sh                          # python -m pytest -q tests
#   utils/run_tests.sh -k parse_options -x      # extra arguments go to pytest
#   utils/run_tests.sh tests/test_shell_utils.py  # a path (from the repo root) replaces `tests`
#
# Exits with pytest's status; "no tests collected" (5) stays a failure, with a message.
set -euo pipefail

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$root"
. ./path.sh

# Keep the default `tests` only when no test path was given, so a single file can be run.
targets=(tests)
for arg in "$@"; do
  if [[ $arg != -* ]] && [ -e "${arg%%::*}" ]; then targets=(); break; fi
done

rc=0
python -m pytest -q "${targets[@]}" "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
  echo "run_tests.sh: pytest collected no tests (exit code 5); that counts as a failure." >&2
fi
exit "$rc"
