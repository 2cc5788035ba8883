#!/usr/bin/env bash
# The replay server the poll tests rely on answers the recorded requests as
# they were recorded (Patchwork byte for byte, Gerrit/GitLab/Maestro paging
# and filters), so what the other tests prove holds against the real APIs'
# behaviour, not an invented one.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poll_lib.sh"
replay_start
python3 "$SRCDIR/tests/replay/selftest.py" "$FIXTURES" "$RURL" >"$T/out" 2>&1 || fail "$(grep -v '^ok' "$T/out")"
pass
