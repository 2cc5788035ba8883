#!/usr/bin/env bash
# https with verification always on: a CA made here with openssl signs the
# replay server's certificate.  With ca-path (a PEM file, or a hashed
# directory) polling works; without it, or with another CA, or for a name
# the certificate does not cover, the poll fails with a TLS error and
# stores nothing.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/poll_lib.sh"
cd "$T" || fail cd
mkca() { # NAME -> NAME.key NAME.pem
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days 2 \
		-subj "/CN=cifeed test $1" -addext "basicConstraints=critical,CA:true" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || fail "openssl ca $1"
}
mkca ca
mkca other
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=127.0.0.1" \
	2>/dev/null || fail "openssl csr"
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:false\nextendedKeyUsage=serverAuth\n' >ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
	-extfile ext 2>/dev/null || fail "openssl sign"
mkdir cadir && cp ca.pem cadir/ && openssl rehash cadir 2>/dev/null || c_rehash cadir >/dev/null ||
	fail "rehash"

replay_start --tls-cert "$T/srv.pem" --tls-key "$T/srv.key"
HTTPS="https://127.0.0.1:$RP"
RCTL_URL=$HTTPS
export CURL_CA_BUNDLE=$T/ca.pem # for the helpers' curl only

run() { # NAME EXTRA... -> poll once in a fresh data dir; echo exit status
	rm -rf "$T/data"
	cf init >/dev/null || fail init
	source_conf "$1" patchwork "$2" project=patchwork since=2026-11-22T09:30:00 "${@:3}"
	cf poll --once >"$T/$1.out" 2>"$T/$1.err"
	echo $?
}
[ "$(run good "$HTTPS" "ca-path=$T/ca.pem")" = 0 ] || fail "with the CA file: $(cat "$T/good.out" "$T/good.err")"
[ "$(jq '.checkouts | length' <(cf export))" -gt 0 ] || fail "nothing stored over https"
[ "$(run dir "$HTTPS" "ca-path=$T/cadir")" = 0 ] || fail "with a CA directory: $(cat "$T/dir.out")"
for bad in "nocase $HTTPS" "wrongca $HTTPS ca-path=$T/other.pem" "name https://localhost:$RP ca-path=$T/ca.pem"; do
	set -- $bad
	rc=$(run "$@")
	[ "$rc" = 5 ] || fail "$1: exit $rc, expected 5: $(cat "$T/$1.out")"
	grep -q "event=poll.failed source=$1 .*kind=tls" "$T/$1.err" || fail "$1: no TLS failure line: $(cat "$T/$1.err")"
	[ "$(jq '.checkouts | length' <(cf export))" = 0 ] || fail "$1: stored something over an unverified connection"
done
# a missing CA file is a configuration error, before any request
rm -rf "$T/data"; cf init >/dev/null
source_conf x patchwork "$HTTPS" "ca-path=$T/nope.pem"
expect_rc 4 cf poll --once 2>"$T/x.err"
grep -q 'ca-path' "$T/x.err" || fail "error does not name ca-path: $(cat "$T/x.err")"
pass
