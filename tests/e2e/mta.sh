# mta.sh - a real MTA for bot tests: Debian's exim4 (exim4-daemon-light,
# tests/packages.txt) listening on 127.0.0.1:$MTA_PORT, delivering every
# recipient into local Maildirs under $T/mta/mail (nothing leaves the machine):
#   bot@bot.test                 -> $T/mta/mail/bot   (the bot's own mailbox)
#   an address in $T/mta/reject  -> refused at RCPT (550 unknown user)
#   anyone else                  -> $T/mta/mail/all   (Envelope-to: says whom)
# Source after lib.sh; call mta_start, then mta_files DIR to list deliveries.
MTA="$T/mta"
MTA_BOT=bot@bot.test

mta_start() {
	local exim
	exim=$(command -v exim4 || command -v exim) || fail "exim4 is not installed (tests/packages.txt)"
	getent passwd Debian-exim >/dev/null || fail "no Debian-exim user (exim4-base)"
	mkdir -p "$MTA/spool" "$MTA/log" "$MTA/mail"
	# exim drops to Debian-exim: it must reach $MTA (mktemp -d makes $T 0700)
	chmod o+x "$T" "$MTA"
	: >"$MTA/reject"
	MTA_PORT=$(free_port)
	cat >"$MTA/exim.conf" <<CONF
primary_hostname = mta.test
qualify_domain = mta.test
spool_directory = $MTA/spool
log_file_path = $MTA/log/%slog
pid_file_path = $MTA/exim.pid
daemon_smtp_ports = $MTA_PORT
local_interfaces = 127.0.0.1
keep_environment =
tls_advertise_hosts =
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
exim_user = Debian-exim
exim_group = Debian-exim
acl_smtp_rcpt = acl_rcpt
message_size_limit = 10M
begin acl
acl_rcpt:
  deny    message = unknown user
          condition = \${lookup{\$local_part@\$domain}lsearch{$MTA/reject}{yes}{no}}
  accept
begin routers
bot:
  driver = accept
  condition = \${if eqi{\$local_part@\$domain}{$MTA_BOT}}
  transport = bot_box
all:
  driver = accept
  transport = all_box
begin transports
bot_box:
  driver = appendfile
  directory = $MTA/mail/bot
  maildir_format
  create_directory
  user = Debian-exim
  group = Debian-exim
  mode = 0644
  envelope_to_add
  return_path_add
all_box:
  driver = appendfile
  directory = $MTA/mail/all
  maildir_format
  create_directory
  user = Debian-exim
  group = Debian-exim
  mode = 0644
  envelope_to_add
  return_path_add
begin retry
* * F,10m,5s
CONF
	chown -R Debian-exim:Debian-exim "$MTA/spool" "$MTA/log" "$MTA/mail"
	"$exim" -C "$MTA/exim.conf" -bdf -q5s >"$MTA/stdout" 2>&1 &
	MTA_PID=$!
	bg_track "$MTA_PID"
	local i
	for i in $(seq 1 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$MTA_PORT") 2>/dev/null && return 0
		kill -0 "$MTA_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$MTA/stdout" "$MTA/log/"* >&2 2>/dev/null
	fail "exim did not start on 127.0.0.1:$MTA_PORT"
}

# mta_stop: stop the MTA (deliveries in progress finish).
mta_stop() { kill "$MTA_PID" 2>/dev/null; wait "$MTA_PID" 2>/dev/null; true; }

# mta_files BOX: the delivered messages of a Maildir (new and cur), one path a line.
mta_files() { find "$MTA/mail/$1/new" "$MTA/mail/$1/cur" -type f 2>/dev/null | sort; }

# mta_quiet: wait until exim has nothing queued (deliveries done).
mta_quiet() {
	local i
	for i in $(seq 1 100); do
		[ -z "$(find "$MTA/spool/input" -type f 2>/dev/null)" ] && return 0
		sleep 0.1
	done
	fail "exim still has queued mail: $(ls -R "$MTA/spool/input")"
}
