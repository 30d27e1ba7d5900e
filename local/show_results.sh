#!/usr/bin/env bash
# Print the decoding summaries of every experiment of a recipe, best test CER first.
#
# Usage: local/show_results.sh [recipe-dir]     (default: the current directory)
#   e.g. local/show_results.sh egs/mini_cmn
set -euo pipefail

recipe=${1:-.}
shopt -s nullglob
summaries=("$recipe"/exp/*/decode/summary.json)
if [ ${#summaries[@]} -eq 0 ]; then
  echo "show_results: no exp/*/decode/summary.json under $recipe: run stage 7 first" >&2
  exit 1
fi
printf '%-24s %8s %8s %8s %8s %10s\n' experiment devPER devCER testPER testCER RTF_HLG
for s in "${summaries[@]}"; do
  exp=$(basename "$(dirname "$(dirname "$s")")")
  python3 - "$s" "$exp" <<'PY'
import json, sys
s, exp = json.load(open(sys.argv[1])), sys.argv[2]
d, t = s.get("dev", {}), s.get("test", {})
f = lambda x: "-" if x is None else f"{x:.2f}"
print(f"{exp:<24} {f(d.get('per')):>8} {f(d.get('cer')):>8} {f(t.get('per')):>8} {f(t.get('cer')):>8} "
      f"{'-' if t.get('rtf_hlg') is None else format(t['rtf_hlg'], '.4f'):>10}")
PY
done | sort -k5 -g
