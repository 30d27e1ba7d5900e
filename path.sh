# Environment for asrt scripts. Source it, do not run it:
#   . ./path.sh            (from the repo root, or via a symlink such as egs/<corpus>/path.sh)
#
# Sets ASRT_ROOT to the repository root (found from this file's real location), sets the
# environment up on first use (utils/setup_env.sh: Debian packages, .venv, KenLM's lmplz and build_binary), puts
# .venv/bin first on PATH, and exports PYTHONUNBUFFERED=1 and LC_ALL=C.UTF-8.
# OMP_NUM_THREADS is left to the scripts. Safe under `set -euo pipefail`.
#
# ASRT_VENV=DIR puts the virtualenv DIR first on PATH instead of .venv, as it is: one where asrt is
# already installed (`pip install asrt-toolkit[train]`), which path.sh neither sets up nor updates.
# Stage 4 (the LMs) then needs KenLM's lmplz and build_binary on PATH too.

ASRT_ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
export ASRT_ROOT

_asrt_venv="$ASRT_ROOT/.venv"
_asrt_need_setup=0
if [ -n "${ASRT_VENV:-}" ]; then
  if [ -x "$ASRT_VENV/bin/asrt" ]; then
    _asrt_venv="$(cd "$ASRT_VENV" && pwd)"
  else
    echo "path.sh: ASRT_VENV=$ASRT_VENV has no bin/asrt; install asrt there (pip install asrt-toolkit[train]) or unset ASRT_VENV." >&2
    unset _asrt_venv _asrt_need_setup
    return 1 2>/dev/null || exit 1
  fi
elif [ ! -x "$_asrt_venv/bin/python" ] || [ ! -x "$_asrt_venv/bin/lmplz" ] || [ ! -x "$_asrt_venv/bin/build_binary" ] \
    || [ ! -f "$_asrt_venv/.asrt-setup.sha256" ]; then
  _asrt_need_setup=1
else
  # setup_env.sh runs again only when pyproject.toml changed since the last install, so sourcing
  # this file stays cheap (no python start-up, one sha256sum).
  _asrt_have="" _asrt_want="$(sha256sum <"$ASRT_ROOT/pyproject.toml")"
  read -r _asrt_have <"$_asrt_venv/.asrt-setup.sha256" || true
  [ "$_asrt_have" = "${_asrt_want%% *}" ] || _asrt_need_setup=1
fi
if [ "$_asrt_need_setup" = 1 ]; then
  if ! bash "$ASRT_ROOT/utils/setup_env.sh"; then
    echo "path.sh: setting up the asrt environment failed (see above); fix that and source path.sh again." >&2
    unset _asrt_venv _asrt_need_setup _asrt_have _asrt_want
    return 1 2>/dev/null || exit 1
  fi
fi

# Activate the venv by hand rather than through bin/activate, which is not `set -u` clean
# in every Python version and changes the prompt.
export VIRTUAL_ENV="$_asrt_venv"
case ":${PATH:-}:" in
  ":$VIRTUAL_ENV/bin:"*) ;;  # already first: sourcing twice must not grow PATH
  *) export PATH="$VIRTUAL_ENV/bin${PATH:+:$PATH}" ;;
esac
unset PYTHONHOME
export PYTHONUNBUFFERED=1
export LC_ALL=C.UTF-8

unset _asrt_venv _asrt_need_setup _asrt_have _asrt_want
