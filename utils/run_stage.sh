# Stages that run once and resume after a kill. Source it (after utils/log.sh), set $stage and $stop_stage,
# then call `run_stage N MARKER_DIR DESCRIPTION -- COMMAND...` for each stage:
#
#   - outside $stage..$stop_stage, or with MARKER_DIR/.done/stageN there (the stage is done), it does nothing;
#   - with MARKER_DIR/.done/stageN.started there (a run of the stage was killed), it runs COMMAND --resume;
#   - otherwise it writes .done/stageN.started and runs COMMAND, which does the stage afresh.
#
# When COMMAND succeeds, .done/stageN replaces .done/stageN.started; when it fails, .started stays.

run_stage() {
  local n=$1 done_dir=$2/.done desc=$3 resume=()
  shift 4
  [ "$stage" -le "$n" ] && [ "$stop_stage" -ge "$n" ] || return 0
  if [ -f "$done_dir/stage$n" ]; then
    log "Stage $n: $desc: done before ($done_dir/stage$n), skipping"
    return 0
  fi
  if [ -f "$done_dir/stage$n.started" ]; then
    log "Stage $n: $desc (resuming its unfinished run)"
    resume=(--resume)
  else
    log "Stage $n: $desc"
    mkdir -p "$done_dir" && touch "$done_dir/stage$n.started"
  fi
  "$@" "${resume[@]}"
  touch "$done_dir/stage$n" && rm -f "$done_dir/stage$n.started"
}
