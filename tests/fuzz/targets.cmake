# The fuzz targets, tests/fuzz/<name>.cpp, each with its seed corpus in
# tests/fuzz/corpus/<name>/. Read by the fuzz build, by the test suite and
# by run.sh.
set(hookd_fuzz_targets
  config
  credential
  duration
  event_storage
  events
  log_line
  names
  outside_json
  percent_decode
  retry_after
  route
  webhook_create
  webhook_storage
  webhook_update)
