#!/usr/bin/env bash
# One-shot, idempotent set-up of everything asrt needs on a Debian machine.
#
# Usage: utils/setup_env.sh [--voices LIST]
#
# path.sh runs this automatically on first use; run it by hand after pulling a
# change to pyproject.toml. Each step is skipped when its result is already there, so
# a second run is a sub-second no-op:
#   1. Debian packages (apt-get; as root, through sudo, or a message saying what
#      to install when neither is possible);
#   2. the virtualenv $ASRT_ROOT/.venv with torch==2.13.0 and the repository's own
#      development install, `pip install -e .[train,serve,export,test]` (pip runs again
#      only when pyproject.toml changed: its hash is kept in .venv);
#   3. KenLM's lmplz and build_binary, compiled from the kenlm sdist into .venv/bin;
#   4. only when asked, the voices mini_cmn's synth.voices names beyond espeak-ng (comma-separated):
#      --voices mbrola-cn1 installs Debian's mbrola (contrib) and mbrola-cn1 (non-free), with contrib and
#      non-free enabled for that one install (a temporary sources file, removed afterwards).
#
# Environment: ASRT_PYTHON  interpreter the virtualenv is made from (default: python3).
# ASRT_VOICES the --voices list, when the option is not given.
# ASRT_ROOT is always the directory above this script, whatever the environment says,
# so that a second checkout never installs into the first one's virtualenv.
set -euo pipefail

readonly TORCH_PIN="torch==2.13.0"
readonly KENLM_PIN="kenlm==0.3.0"  # its sdist gives lmplz and build_binary (the kenlm module is in pyproject.toml)
readonly EXTRAS="train,serve,export,test"
readonly APT_PACKAGES=(
  espeak-ng libsndfile1 cmake build-essential g++
  libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev
  zlib1g-dev libbz2-dev liblzma-dev
  chromium  # tests/test_browser.py drives it headless through Playwright (fonts-wqy-zenhei: its Chinese)
  fonts-wqy-zenhei
)

ASRT_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
venv="$ASRT_ROOT/.venv"
stamp="$venv/.asrt-setup.sha256"
python="${ASRT_PYTHON:-python3}"
workdir=""

say() { echo "setup_env: $*" >&2; }
die() { echo "setup_env: ERROR: $*" >&2; exit 1; }

voices="${ASRT_VOICES:-}"
while [ $# -gt 0 ]; do
  case $1 in
    --voices) [ $# -ge 2 ] || die "--voices needs a list, e.g. --voices mbrola-cn1"; voices=$2; shift 2 ;;
    --voices=*) voices=${1#--voices=}; shift ;;
    *) die "unknown option '$1'; usage: utils/setup_env.sh [--voices mbrola-cn1]" ;;
  esac
done
for v in ${voices//,/ }; do
  case $v in
    espeak-ng|mbrola-cn1) ;;
    *) die "unknown voice '$v' in --voices; known: espeak-ng (always installed), mbrola-cn1" ;;
  esac
done

# as_root: the command prefix that runs a command as root (empty array when neither root nor sudo).
as_root=()
if [ "$(id -u)" -eq 0 ]; then as_root=(env); elif command -v sudo >/dev/null 2>&1; then as_root=(sudo env); fi

voice_sources=""  # a temporary apt sources file (contrib, non-free) while a voice installs

cleanup() {
  local rc=$?
  if [ -n "$voice_sources" ]; then "${as_root[@]}" rm -f "$voice_sources" || true; fi
  if [ -n "$workdir" ]; then
    if [ "$rc" -eq 0 ]; then rm -rf "$workdir"; else say "logs kept in $workdir"; fi
  fi
}
trap cleanup EXIT

# A scratch directory for logs and the KenLM build, made only when there is work to do.
scratch() {
  if [ -z "$workdir" ]; then workdir="$(mktemp -d "${TMPDIR:-/tmp}/asrt-setup.XXXXXX")"; fi
}

# run_logged NAME DESCRIPTION CMD...: run CMD with its output in a log; show the tail on failure.
run_logged() {
  local name=$1 what=$2; shift 2
  scratch
  local logfile="$workdir/$name.log"
  if ! "$@" >"$logfile" 2>&1 </dev/null; then
    tail -n 30 "$logfile" >&2
    die "$what failed (full log: $logfile)"
  fi
}

pyproject_hash() {
  local h
  h="$(sha256sum <"$ASRT_ROOT/pyproject.toml")"
  echo "${h%% *}"
}

# Two recipe jobs sourcing path.sh at once on a fresh machine must not both install:
# hold a lock on this very file (no extra file in the repository), then re-check.
if command -v flock >/dev/null 2>&1; then
  exec 9<"${BASH_SOURCE[0]}"
  flock 9
fi

[ -f "$ASRT_ROOT/pyproject.toml" ] || die "no pyproject.toml in $ASRT_ROOT; run this script from an asrt checkout."

# ---------------------------------------------------------------------------
# 1. Debian packages
# ---------------------------------------------------------------------------
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  # one dpkg-query for all packages; "ii " is the status of an installed package
  installed=$'\n'"$(dpkg-query -W -f='${db:Status-Abbrev}${Package}\n' "${APT_PACKAGES[@]}" 2>/dev/null || true)"$'\n'
  for pkg in "${APT_PACKAGES[@]}"; do
    [[ $installed == *$'\n'"ii $pkg"$'\n'* ]] || missing+=("$pkg")
  done
else
  # Not Debian: we can only see commands, not libraries.
  for cmd in espeak-ng cmake g++ make; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
fi
if ! command -v "$python" >/dev/null 2>&1; then
  missing+=(python3 python3-venv)
elif [ ! -x "$venv/bin/python" ] && ! "$python" -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi

if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    die "missing system packages: ${missing[*]}. This is not a Debian/Ubuntu system; install them with your package manager and rerun."
  fi
  if [ ${#as_root[@]} -eq 0 ]; then
    die "missing system packages: ${missing[*]}. Run as root: apt-get install -y ${missing[*]}"
  fi
  say "installing Debian packages: ${missing[*]}"
  run_logged apt-update "apt-get update" \
    "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get update
  run_logged apt-install "apt-get install ${missing[*]}" \
    "${as_root[@]}" DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

# ---------------------------------------------------------------------------
# 2. Virtualenv and Python packages
# ---------------------------------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
    || die "$python is older than Python 3.10; set ASRT_PYTHON to a newer interpreter."
  say "creating virtualenv $venv"
  if ! "$python" -m venv "$venv" >&2; then
    rm -rf "$venv"   # we made it: a half-built venv would look finished next time
    die "could not create the virtualenv with '$python -m venv'; install python3-venv and rerun."
  fi
fi

want_hash="$(pyproject_hash)"
have_hash=""
if [ -f "$stamp" ]; then read -r have_hash <"$stamp" || true; fi
if [ "$have_hash" != "$want_hash" ]; then
  pip=("$venv/bin/python" -m pip --disable-pip-version-check)
  # torch first and pinned: resolving it through install_requires alone may pick CUDA wheels.
  say "installing $TORCH_PIN"
  run_logged pip-torch "pip install $TORCH_PIN" "${pip[@]}" install --progress-bar off "$TORCH_PIN"
  # Until pyproject.toml the distribution was called asrt, a name PyPI gives to another project; a
  # venv made then still has it, and two distributions must not claim the asrt package.
  if "${pip[@]}" show --quiet asrt >/dev/null 2>&1; then
    run_logged pip-uninstall "pip uninstall asrt" "${pip[@]}" uninstall --yes asrt
  fi
  say "installing asrt and its dependencies (pip install -e .[$EXTRAS])"
  run_logged pip-asrt "pip install -e $ASRT_ROOT[$EXTRAS]" \
    "${pip[@]}" install --progress-bar off "$TORCH_PIN" -e "$ASRT_ROOT[$EXTRAS]"
  echo "$want_hash" >"$stamp.tmp" && mv -f "$stamp.tmp" "$stamp"
fi

# ---------------------------------------------------------------------------
# 3. KenLM's lmplz and build_binary (stage 4 estimates the ARPA LMs and writes the rescoring LM's binary
#    with them; the kenlm module only queries)
# ---------------------------------------------------------------------------
if [ ! -x "$venv/bin/lmplz" ] || [ ! -x "$venv/bin/build_binary" ]; then
  scratch
  jobs="$(nproc 2>/dev/null || echo 2)"
  say "building KenLM lmplz and build_binary from the $KENLM_PIN sdist (-j$jobs)"
  kenlm_start=$SECONDS
  src="$workdir/kenlm-src"
  mkdir -p "$src"
  # --no-build-isolation reuses the venv's setuptools and skips fetching a cmake wheel;
  # fall back to an isolated build when the venv has no setuptools.
  if ! "$venv/bin/python" -m pip download --disable-pip-version-check --no-deps \
      --no-binary kenlm --no-build-isolation "$KENLM_PIN" -d "$src" \
      >"$workdir/kenlm-download.log" 2>&1 </dev/null; then
    run_logged kenlm-download "downloading the $KENLM_PIN sdist" \
      "$venv/bin/python" -m pip download --disable-pip-version-check --no-deps \
      --no-binary kenlm "$KENLM_PIN" -d "$src"
  fi
  tarball="$(find "$src" -maxdepth 1 -name 'kenlm-*.tar.gz' | head -n 1)"
  [ -n "$tarball" ] || die "pip download produced no kenlm-*.tar.gz in $src"
  tar -xzf "$tarball" -C "$src"
  top="$(find "$src" -mindepth 1 -maxdepth 1 -type d -name 'kenlm-*' | head -n 1)"
  [ -f "$top/CMakeLists.txt" ] || die "the kenlm sdist has no CMakeLists.txt ($tarball)"
  run_logged kenlm-cmake "cmake configure of KenLM" \
    cmake -S "$top" -B "$src/build" -DCMAKE_BUILD_TYPE=Release
  run_logged kenlm-build "compiling KenLM" \
    cmake --build "$src/build" --target lmplz build_binary -j "$jobs"
  for tool in lmplz build_binary; do
    bin="$(find "$src/build" -type f -name "$tool" -perm -u+x | head -n 1)"
    [ -n "$bin" ] || die "the KenLM build produced no $tool"
    # copy then rename, so an interrupted install never leaves a truncated binary
    install -m 755 "$bin" "$venv/bin/.$tool.tmp"
    mv -f "$venv/bin/.$tool.tmp" "$venv/bin/$tool"
  done
  say "KenLM built in $((SECONDS - kenlm_start)) s"
fi

# ---------------------------------------------------------------------------
# 4. Voices beyond espeak-ng, only when asked (asrt/corpora/voices; licences in egs/mini_cmn/README.md)
# ---------------------------------------------------------------------------
readonly MBROLA_CN1_DB=/usr/share/mbrola/cn1/cn1
if [[ ",$voices," == *,mbrola-cn1,* ]] && ! { command -v mbrola >/dev/null 2>&1 && [ -f "$MBROLA_CN1_DB" ]; }; then
  command -v apt-get >/dev/null 2>&1 \
    || die "the mbrola-cn1 voice needs the mbrola program and its cn1 database ($MBROLA_CN1_DB); this is not Debian, install them by hand."
  [ ${#as_root[@]} -gt 0 ] \
    || die "the mbrola-cn1 voice needs root: apt-get install mbrola mbrola-cn1 with contrib and non-free enabled."
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  [ -n "$codename" ] || die "cannot tell the Debian release from /etc/os-release to enable contrib and non-free."
  voice_sources=/etc/apt/sources.list.d/asrt-mbrola-nonfree.sources  # removed by cleanup, whatever happens
  say "installing the mbrola-cn1 voice: mbrola (contrib) and mbrola-cn1 (non-free), from $codename"
  printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$codename" | "${as_root[@]}" tee "$voice_sources" >/dev/null
  run_logged apt-update-voices "apt-get update with contrib and non-free (for the mbrola-cn1 voice)" \
    "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get update
  run_logged apt-install-voices "installing the mbrola-cn1 voice (apt-get install mbrola mbrola-cn1)" \
    "${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mbrola mbrola-cn1
  "${as_root[@]}" rm -f "$voice_sources"
  voice_sources=""
  [ -f "$MBROLA_CN1_DB" ] || die "mbrola-cn1 is installed but $MBROLA_CN1_DB is missing."
fi

if [ -n "$workdir" ]; then say "done: activate with '. $ASRT_ROOT/path.sh'"; fi
