# Kaldi-style command-line options for bash scripts. Source it AFTER the defaults:
#
#   stage=0
#   num_jobs=4                 # each top-level variable is an option: --num-jobs N
#   use_gpu=false              # booleans are plain strings: --use-gpu true
#   help_message="Usage: $0 [options] <data-dir> <exp-dir>"
#   . utils/parse_options.sh   # no arguments after it: it reads and shifts the script's "$@"
#   [ $# -eq 2 ] || { echo "$help_message" >&2; exit 1; }
#   data=$1 exp=$2
#
# Accepted forms: `--num-jobs 8` and `--num-jobs=8` set num_jobs=8 (dashes become
# underscores). Parsing stops at the first argument that does not start with `--` or
# just after `--`; the options are shifted off and the positional arguments stay in "$@".
# An option whose variable is not set before this file is sourced is an error
# ("unknown option --xyz", exit 1). `--help`/`-h` prints $help_message (if set) and the
# options, i.e. the top-level `name=value` lines above the line that sources this file,
# with their current values, then exits 0.
#
# Everything here runs in the caller's scope, so internal names start with `_po_`.

_po_usage() {
  # Locals are _po_-prefixed too: a plain `name` would hide the script's --name option.
  local _po_script="${BASH_SOURCE[2]:-$0}" _po_line="${BASH_LINENO[1]:-0}"
  if [ -n "${help_message:-}" ]; then
    printf '%s\n' "$help_message"
  else
    printf 'Usage: %s [options] [arguments]\n' "$(basename "$_po_script")"
  fi
  # Options are the script's top-level assignments written before it sourced us.
  [ -f "$_po_script" ] || return 0
  local -a _po_names=()
  local _po_n=0 _po_text _po_name
  while IFS= read -r _po_text || [ -n "$_po_text" ]; do
    _po_n=$((_po_n + 1))
    if [ "$_po_line" -gt 0 ] && [ "$_po_n" -ge "$_po_line" ]; then break; fi
    if [[ $_po_text =~ ^([A-Za-z_][A-Za-z0-9_]*)= ]]; then
      _po_name=${BASH_REMATCH[1]}
      [ "$_po_name" = help_message ] && continue
      [ -n "${!_po_name+x}" ] || continue
      [[ " ${_po_names[*]-} " == *" $_po_name "* ]] || _po_names+=("$_po_name")
    fi
  done <"$_po_script"
  [ ${#_po_names[@]} -gt 0 ] || return 0
  printf '\nOptions (current value in brackets):\n'
  for _po_name in "${_po_names[@]}"; do
    printf '  --%-24s [%s]\n' "${_po_name//_/-}" "${!_po_name}"
  done
}

while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    -h | --help) _po_usage; exit 0 ;;
    --?*=*) _po_opt=${1%%=*}; _po_value=${1#*=}; shift ;;
    --?*)
      _po_opt=$1
      if [ $# -lt 2 ]; then
        echo "$(basename "$0"): option $_po_opt needs a value" >&2
        exit 1
      fi
      _po_value=$2
      shift 2
      ;;
    *) break ;;
  esac
  _po_var=${_po_opt#--}
  _po_var=${_po_var//-/_}
  if ! [[ $_po_var =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || [ -z "${!_po_var+x}" ]; then
    echo "$(basename "$0"): unknown option $_po_opt (see --help)" >&2
    exit 1
  fi
  printf -v "$_po_var" '%s' "$_po_value"
done
unset _po_opt _po_value _po_var
unset -f _po_usage
# Leave the caller with a success status even if the last test above was false.
true
