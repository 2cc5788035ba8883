#!/usr/bin/env bash
# init is idempotent; --help everywhere; exit codes; config errors name file, section and key.
source "$(dirname "$0")/lib.sh"

out=$(cf init) || fail "init failed"
echo "$out" | grep -q "created $T/data/cifeed.db" || fail "init did not report the database: $out"
[ -f "$T/data/cifeed.conf" ] && [ -d "$T/data/spool/kcidb/done" ] && [ -d "$T/data/spool/kcidb/failed" ] \
	&& [ -d "$T/data/feeds" ] || fail "init did not create the layout"
sum1=$(sha256sum "$T/data/cifeed.conf" | cut -c1-64)
n1=$(sqlite3 "$T/data/cifeed.db" "select count(*) from schema_migrations")
out=$(cf init) || fail "second init failed"
echo "$out" | grep -q "already initialised.*nothing changed" || fail "second init said: $out"
[ "$(sha256sum "$T/data/cifeed.conf" | cut -c1-64)" = "$sum1" ] || fail "second init changed cifeed.conf"
[ "$(sqlite3 "$T/data/cifeed.db" "select count(*) from schema_migrations")" = "$n1" ] || fail "migrations re-applied"

# the default config is commented and valid git-config; libgit2 and git agree
git config -f "$T/data/cifeed.conf" --list >/dev/null || fail "git cannot parse cifeed.conf"

# --help for every command, --version, usage errors
for c in $("$CIFEED" --help | awk '/^Commands:/{f=1;next} /^$/{f=0} f{print $1}'); do
	"$CIFEED" "$c" --help | grep -q "^usage: cifeed" || fail "$c --help"
done
"$CIFEED" --version | grep -Eq '^cifeed [0-9]+\.[0-9]+' || fail "--version"
expect_rc 2 "$CIFEED" nosuchcommand 2>/dev/null
expect_rc 2 "$CIFEED" 2>/dev/null
expect_rc 2 cf ingest 2>/dev/null
expect_rc 2 cf query ran --commit abc 2>/dev/null

# a directory that is not initialised is a configuration error (4) that says what to do
out=$("$CIFEED" -d "$T/nothing" export 2>&1); rc=$?
[ $rc = 4 ] || fail "uninitialised datadir: exit $rc"
echo "$out" | grep -q "cifeed -d $T/nothing init" || fail "no hint to run init: $out"

# CIFEED_DIR is honoured
CIFEED_DIR="$T/data" "$CIFEED" init | grep -q "already initialised" || fail "CIFEED_DIR ignored"

# config errors: unknown key, bad value, unknown section, unknown source type
cp "$T/data/cifeed.conf" "$T/good.conf"
printf '[serve]\n\tlistn = 127.0.0.1:1\n' >>"$T/data/cifeed.conf"
out=$(cf export 2>&1); rc=$?
[ $rc = 4 ] || fail "unknown key: exit $rc"
echo "$out" | grep -q "cifeed.conf: \[serve\] listn: unknown key 'listn'" || fail "unknown key message: $out"
cp "$T/good.conf" "$T/data/cifeed.conf"
printf '[topic "x"]\n\tfilter = stauts:FAIL\n' >>"$T/data/cifeed.conf"
out=$(cf export 2>&1); rc=$?
[ $rc = 4 ] || fail "bad filter: exit $rc"
echo "$out" | grep -q '\[topic "x"\] filter' || fail "bad filter message lacks section/key: $out"
echo "$out" | grep -q "unknown key 'stauts'" || fail "bad filter message lacks the term: $out"
cp "$T/good.conf" "$T/data/cifeed.conf"
printf '[core]\n\tmax-submission = lots\n' >>"$T/data/cifeed.conf"
out=$(cf export 2>&1); rc=$?
[ $rc = 4 ] && echo "$out" | grep -q "max-submission: 'lots'.*not an integer" || fail "bad value: $rc $out"
cp "$T/good.conf" "$T/data/cifeed.conf"
printf '[frobnicate]\n\tx = 1\n' >>"$T/data/cifeed.conf"
out=$(cf export 2>&1); rc=$?
[ $rc = 4 ] && echo "$out" | grep -q "unknown section 'frobnicate'" || fail "unknown section: $rc $out"
cp "$T/good.conf" "$T/data/cifeed.conf"
printf '[source "s"]\n\ttype = nosuch\n' >>"$T/data/cifeed.conf"
out=$(cf export 2>&1); rc=$?
[ $rc = 4 ] && echo "$out" | grep -q "unknown source type 'nosuch'" || fail "unknown type: $rc $out"
cp "$T/good.conf" "$T/data/cifeed.conf"
printf '[core\n' >>"$T/data/cifeed.conf"
out=$(cf export 2>&1); rc=$?
[ $rc = 4 ] && echo "$out" | grep -q "cifeed.conf" || fail "syntax error: $rc $out"
cp "$T/good.conf" "$T/data/cifeed.conf"

# config check / keys
cf config check | grep -q "cifeed.conf: ok" || fail "config check"
cf config keys | grep -q '^\[source "NAME"\]' || fail "config keys lists no source section"
for k in listen token-file filter epoch-size max-submission; do
	cf config keys | grep -q "^    $k " || fail "config keys misses $k"
done
printf '[serve]\n\tlisten = nowhere\n' >>"$T/data/cifeed.conf"
out=$(cf config 2>&1); rc=$?
[ $rc = 4 ] && echo "$out" | grep -q "\[serve\] listen: 'nowhere': is not HOST:PORT" || fail "config check of a bad value: $rc $out"
cp "$T/good.conf" "$T/data/cifeed.conf"
# every key the example configuration uses is accepted
cp "$SRCDIR/deploy/cifeed.conf.example" "$T/data/cifeed.conf"
out=$(cf config check 2>&1) || fail "deploy/cifeed.conf.example does not validate: $out"
cp "$T/good.conf" "$T/data/cifeed.conf"

# a database newer than the binary is refused with a clear message
sqlite3 "$T/data/cifeed.db" "insert into schema_migrations values (9999, 'future', 'x')"
out=$(cf export 2>&1); rc=$?
[ $rc = 5 ] && echo "$out" | grep -q "newer than this cifeed" || fail "newer db: $rc $out"
pass
