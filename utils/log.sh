# Logging for shell scripts. Source it, then call `log message...`:
#   . utils/log.sh
#   log "Stage 1: prepare data"
# prints to stderr:
#   2025-01-31 12:00:00 (run.sh:42) Stage 1: prepare data

log() {
  # BASH_SOURCE[1]/BASH_LINENO[0] are the file and line that called log; printf's %(...)T
  # formats the time without starting a `date` process.
  local file=${BASH_SOURCE[1]:-$0}
  printf '%(%Y-%m-%d %H:%M:%S)T (%s:%s) %s\n' -1 "${file##*/}" "${BASH_LINENO[0]:-0}" "$*" >&2
}
