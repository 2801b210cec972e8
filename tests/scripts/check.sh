# Sourced by the script tests: `check DESCRIPTION COMMAND...` runs the command and prints
# "ok    DESCRIPTION" or "FAIL  DESCRIPTION", a failure setting fail=1 (the test's exit status).
fail=0
check() {
  if "${@:2}"; then echo "ok    $1"; else echo "FAIL  $1"; fail=1; fi
}
