#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the store tests (Debian's postgresql package).
#   scripts/pg-test-server.sh start DIR PORT   initdb in DIR, start on 127.0.0.1:PORT, print the URL
#     (as root, DIR's parent must be traversable by the postgres user, e.g. /tmp/medtwin-pg-N)
#   scripts/pg-test-server.sh stop DIR         stop it (fast shutdown) and remove DIR
# PostgreSQL refuses to run as root: as root the server runs as the 'postgres' user.
set -euo pipefail
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "pg-test-server: no PostgreSQL server (install postgresql)" >&2; exit 1; }
cmd=${1:?start or stop}
dir=${2:?directory}
as=()
[ "$(id -u)" -eq 0 ] && as=(runuser -u postgres --)
case $cmd in
  start)
    port=${3:?port}
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
    # --no-sync: a test cluster need not survive power loss while it is being created.
    "${as[@]}" "$bin/initdb" -D "$dir/data" -A trust -U medtwin -E UTF8 --no-sync \
      >"$dir/initdb.log" 2>&1
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on" start >/dev/null
    echo "postgresql://medtwin@127.0.0.1:$port/postgres"
    ;;
  stop)
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
