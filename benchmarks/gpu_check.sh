#!/usr/bin/env bash
# The one-shot GPU check (issue 23): what a lent GPU machine measures in under 10 minutes of device time.
#
#   benchmarks/gpu_check.sh --pack true         # here, before asking for the machine: fills .gpu_check/
#   benchmarks/gpu_check.sh --out "$OUT"        # there (device tool: carry .gpu_check), or here as a CPU rehearsal
#
# The device machine reaches no registry, so --pack gathers here what its image lacks (about 38 MB):
# cp312 wheels of asrt's dependencies, espeak-ng with the shared libraries it loads and its data, and the
# People's Daily text that stage 0 would download. The run then
#   1. installs the wheels into /tmp/gpu_check_site when lhotse is missing, puts espeak-ng on PATH when it is;
#   2. synthesises a mini_cmn corpus of --num-train utterances on all cores and runs stages 0-3 (timed);
#   3. trains egs/mini_cmn/conf/gpu.yaml (the 10.7 M conformer_s, AMP auto) for --epochs epochs on it,
#      sampling the GPU's memory every second;
#   4. times the training step of the real recipes' conformer preset (egs/aishell/conf/default.yaml) with
#      benchmarks/bench_train_step.py;
# and writes under --out: summary.md (stage times, steps/s, peak memory, loss and dev PER per epoch, the
# step benchmark), gpu_memory.csv and log.txt. The CPU rehearsal (no GPU) runs the same steps on a tiny
# corpus: benchmarks/gpu_check.sh --out /tmp/gc --num-train 200 --epochs 1 --step-seconds 20
set -euo pipefail

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
pack=false
out=
work=/tmp/gpu_check
num_train=4000        # utterances: 2 epochs of gpu.yaml's 400 s batches take about 2 minutes on an H200 (estimate)
epochs=2
step_seconds=         # batch seconds for the step benchmark (empty: the aishell config's train.max_duration, 600)
. "$root/utils/parse_options.sh"

packdir="$root/.gpu_check"
if $pack; then
  . "$root/path.sh"
  rm -rf "$packdir" && mkdir -p "$packdir"/{whl,bin,lib}
  plat=()
  for p in manylinux_2_{17,24,27,28,31,34}_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do plat+=(--platform "$p"); done
  # asrt's own pins (pyproject.toml) of what the image lacks, and lhotse's unpinned dependencies
  pins=$(python -c "import re, tomllib, sys; deps = tomllib.load(open('$root/pyproject.toml', 'rb'))['project']['dependencies']
on_image = {'torch', 'numpy', 'scipy', 'pyyaml', 'tqdm', 'urllib3', 'sentencepiece', 'kenlm'}  # kenlm: stage 4 only
print(' '.join(d for d in deps if re.split('[=<>]', d)[0] not in on_image))")
  jieba=$(tr ' ' '\n' <<<"$pins" | grep '^jieba')  # an sdist only: built into a wheel
  python -m pip download -q --disable-pip-version-check --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${plat[@]}" -d "$packdir/whl" $(tr ' ' '\n' <<<"$pins" | grep -v '^jieba') \
    intervaltree sortedcontainers cytoolz toolz audioread tabulate
  python -m pip wheel -q --disable-pip-version-check --no-deps -w "$packdir/whl" "$jieba"
  espeak=$(command -v espeak-ng) || { echo "gpu_check: espeak-ng is not installed here (run utils/setup_env.sh)" >&2; exit 1; }
  cp "$espeak" "$packdir/bin/"
  # every shared library it loads except the C library's own, which the device's newer glibc provides
  ldd "$espeak" | awk '$3 ~ /^\// {print $3}' | grep -Ev '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*)\.so' \
    | xargs -I{} cp -L {} "$packdir/lib/"
  cp -r "$(dirname "$(readlink -f "$(ldconfig -p | awk '/libespeak-ng.so.1 /{print $NF; exit}')")")/espeak-ng-data" "$packdir/"
  find "$packdir/espeak-ng-data" -maxdepth 1 -name '*_dict' ! -name cmn_dict -delete  # Mandarin's dictionary only
  text="$root/egs/mini_cmn/data/local/mini_cmn/download/199801.txt"
  [ -f "$text" ] || python -c "from asrt.corpora.mini_cmn import download_text; from pathlib import Path; download_text(Path('$(dirname "$text")'))"
  gzip -c "$text" >"$packdir/199801.txt.gz"
  echo "gpu_check: packed $(du -sh "$packdir" | cut -f1) in $packdir; carry .gpu_check"
  exit 0
fi

[ -n "$out" ] || { echo "usage: benchmarks/gpu_check.sh --pack true | --out DIR [--num-train N] [--epochs E]" >&2; exit 1; }
mkdir -p "$out" "$work"
exec > >(tee "$out/log.txt") 2>&1

# The environment: the machine's python3 plus the packed wheels, or this checkout's .venv (the rehearsal).
if [ -x "$root/.venv/bin/python" ]; then
  . "$root/path.sh"
  py=python
else
  py=python3
  if ! $py -c "import lhotse" 2>/dev/null; then
    [ -d "$packdir/whl" ] || { echo "gpu_check: no lhotse and no .gpu_check/whl: run --pack here and carry .gpu_check" >&2; exit 1; }
    $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu_check_site "$packdir"/whl/*.whl
    export PYTHONPATH=/tmp/gpu_check_site
  fi
  export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
  # path.sh (sourced by run.sh) takes an environment with bin/asrt as it is
  mkdir -p "$work/venv/bin"
  printf '#!/bin/sh\nexec %s -m asrt.cli "$@"\n' "$(command -v $py)" >"$work/venv/bin/asrt"
  chmod +x "$work/venv/bin/asrt"; ln -sf "$(command -v $py)" "$work/venv/bin/python"
  export ASRT_VENV="$work/venv" PATH="$work/venv/bin:$PATH"
fi
if ! command -v espeak-ng >/dev/null; then
  export PATH="$packdir/bin:$PATH" LD_LIBRARY_PATH="$packdir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
    ESPEAK_DATA_PATH="$packdir"
fi
espeak-ng --version

data="$work/data"
mkdir -p "$data/local/mini_cmn/download"
if [ -f "$packdir/199801.txt.gz" ] && [ ! -f "$data/local/mini_cmn/download/199801.txt" ]; then
  gunzip -c "$packdir/199801.txt.gz" >"$data/local/mini_cmn/download/199801.txt"
fi
config="$work/gpu_check.yaml"
cat >"$config" <<EOF
base: $root/egs/mini_cmn/conf/gpu.yaml
synth: {num_train: $num_train}
train: {epochs: $epochs}
EOF
jobs=$(nproc)
nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv,noheader -l 1 >"$out/gpu_memory.csv" 2>/dev/null &
smi=$!
trap 'kill $smi 2>/dev/null || true' EXIT

cd "$root/egs/mini_cmn"
times="$out/stage_seconds.tsv"; : >"$times"
for stage in 0 1 2 3 6; do
  start=$(date +%s)
  ./run.sh --config "$config" --data-dir "$data" --exp-dir "$work/exp" --num-jobs "$jobs" --stage $stage --stop-stage $stage
  printf '%s\t%s\n' "$stage" "$(( $(date +%s) - start ))" >>"$times"
done
cd "$root"
step_opt=(); [ -z "$step_seconds" ] || step_opt=(--batch-seconds "$step_seconds")
$py benchmarks/bench_train_step.py --config egs/aishell/conf/default.yaml "${step_opt[@]}" --steps 10 \
  | tee "$out/train_step.md"
$py benchmarks/gpu_check_summary.py --exp-dir "$work/exp" --stage-seconds "$times" --gpu-memory "$out/gpu_memory.csv" \
  --train-step "$out/train_step.md" | tee "$out/summary.md"
