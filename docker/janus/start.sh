#!/bin/sh
# Starts Janus in docker/compose.yaml's `janus` service (entrypoint; this directory is mounted
# read-only at /etc/talkee-janus). The *.jcfg beside this script are templates: @NAME@ becomes
# the stack's setting (from docker/.env, through the service's environment) and the result goes
# to /tmp/janus (a tmpfs: the container's root is read-only). Only the VideoRoom plugin and the
# WebSockets and HTTP (admin API only) transports are loaded; every other plugin, transport,
# event handler and logger of the package is disabled.
set -eu
here=$(dirname "$0")
run=/tmp/janus

fail() { echo "janus: $*" >&2; exit 1; }

secret=${JANUS_ADMIN_SECRET:-}
public_ip=${JANUS_NAT_1_1_MAPPING:-}
min_port=${JANUS_RTP_MIN_PORT:-}
max_port=${JANUS_RTP_MAX_PORT:-}
# The values go into the config files as they are: allow only what they can hold.
case "$secret" in
	"" | *[!A-Za-z0-9_-]*) fail "TALKEE_JANUS_ADMIN_SECRET: set it in docker/.env (letters, digits, - and _)" ;;
esac
case "$public_ip" in
	"" | *[!0-9A-Fa-f.:]*) fail "TURN_EXTERNAL_IP: set it in docker/.env (this server's public IP address)" ;;
esac
case "$min_port$max_port" in
	"" | *[!0-9]*) fail "JANUS_RTP_MIN_PORT / JANUS_RTP_MAX_PORT: port numbers" ;;
esac
[ "$min_port" -ge 1024 ] && [ "$max_port" -gt "$min_port" ] && [ "$max_port" -le 65535 ] ||
	fail "JANUS_RTP_MIN_PORT / JANUS_RTP_MAX_PORT: 1024 <= min < max <= 65535"

# The package's module folders (/usr/lib/<architecture>/janus on Debian).
plugin=$(ls /usr/lib/*/janus/plugins/libjanus_videoroom.so /usr/lib/janus/plugins/libjanus_videoroom.so \
	/usr/local/lib/janus/plugins/libjanus_videoroom.so 2>/dev/null | head -n 1)
[ -n "$plugin" ] || fail "no VideoRoom plugin (libjanus_videoroom.so): is this Debian's janus package?"
lib=$(dirname "$(dirname "$plugin")")

# Every module in a folder but the ones named, comma-separated (Janus's `disable` lists).
all_but() {
	folder=$1
	shift
	[ -d "$lib/$folder" ] || return 0
	for path in "$lib/$folder"/*.so; do
		[ -e "$path" ] || continue
		name=$(basename "$path")
		keep=no
		for wanted in "$@"; do [ "$name" = "$wanted" ] && keep=yes; done
		[ "$keep" = yes ] || printf '%s\n' "$name"
	done | paste -sd, -
}

rm -rf "$run"
mkdir -p "$run/conf" "$run/recordings"
chmod 700 "$run"
for template in "$here"/*.jcfg; do
	sed -e "s|@ADMIN_SECRET@|$secret|g" \
		-e "s|@NAT_1_1_MAPPING@|$public_ip|g" \
		-e "s|@RTP_PORT_RANGE@|$min_port-$max_port|g" \
		-e "s|@LIB@|$lib|g" \
		-e "s|@CONF@|$run/conf|g" \
		-e "s|@DISABLED_PLUGINS@|$(all_but plugins libjanus_videoroom.so)|g" \
		-e "s|@DISABLED_TRANSPORTS@|$(all_but transports libjanus_websockets.so libjanus_http.so)|g" \
		-e "s|@DISABLED_EVENTS@|$(all_but events)|g" \
		-e "s|@DISABLED_LOGGERS@|$(all_but loggers)|g" \
		"$template" >"$run/conf/$(basename "$template")"
done
chmod 600 "$run/conf"/*.jcfg

# The VideoRoom's recorder (never started: rooms are created with lock_record) would write here.
cd "$run/recordings"
exec janus -F "$run/conf" -C "$run/conf/janus.jcfg"
