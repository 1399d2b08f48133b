#!/usr/bin/env bash
# WAL ingest, Tidemark's stream beside pgBackRest's asynchronous archive-push, on one backlog in one run, then
# Tidemark's lag under a pgbench TPC-B load (docs/benchmarks.md).
# Needs: the PostgreSQL server packages and pgbackrest; run as root or as the postgres user.
#   bench/wal-vs-pgbackrest.sh [BACKLOG_MIB] [LOAD_SECONDS]      (defaults 2048 and 60)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
backlog_mib="${1:-2048}"
load_seconds="${2:-60}"
. "$here/bench/common.sh"
bench_setup tidemark-walbench

pgbackrest_conf "$root" "$data" "$port" "archive-async=y" "spool-path=$root/pgbr-spool"
# archiving held back at first: the last archive_command line wins
init_cluster "archive_command = '/bin/false'" "max_wal_size = 8GB" "shared_buffers = 256MB"
as_pg pgbackrest --config="$root/pgbackrest.conf" --stanza=bench stanza-create >/dev/null 2>&1 || true
psql_ "select pg_create_physical_replication_slot('tidemark_bench', true)" >/dev/null
start_lsn=$(psql_ "select pg_current_wal_lsn()")
echo "== backlog: about $backlog_mib MiB of WAL (archiving held back, a slot keeping it for Tidemark)"
scale=$(( backlog_mib / 16 + 1 ))
as_pg "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s "$scale" -q postgres >/dev/null 2>&1
psql_ "select pg_switch_wal()" >/dev/null
end_lsn=$(psql_ "select pg_current_wal_lsn()")
last_wal=$(psql_ "select pg_walfile_name('$end_lsn'::pg_lsn - 1)")
bytes=$(psql_ "select pg_wal_lsn_diff('$end_lsn', '$start_lsn')::bigint")
echo "backlog: $((bytes / 1048576)) MiB of WAL, up to $last_wal"

echo "== pgBackRest $(pgbackrest version | cut -d' ' -f2) archive-push, async, process-max 2, zst-3"
t0=$(now)
psql_ "alter system set archive_command = 'pgbackrest --config=$root/pgbackrest.conf --stanza=bench archive-push %p'" >/dev/null
psql_ "select pg_reload_conf()" >/dev/null
until [ "$(psql_ "select coalesce(last_archived_wal, '') >= '$last_wal' from pg_stat_archiver")" = "t" ]; do sleep 0.2; done
t1=$(now)
pgbr=$(python3 -c "print(f'{$bytes/1048576/($t1-$t0):.0f}')")
echo "pgBackRest drained the backlog in $(python3 -c "print(f'{$t1-$t0:.1f}')") s: $pgbr MiB/s"

echo "== Tidemark WAL stream (zstd-3 + AES-256-GCM) from the slot"
start_tidemark "$here" "$root" "$api_port"
token=$(cat "$root/tm/admin.token")
durable() { curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$api_port/v1/databases/bench" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin).get("streaming",{}).get("durableLsn") or "0/0")'; }
c0=$(cpu_seconds); t0=$(now)
# registered through the API: a CLI call would add its own JVM start (about a second) to the drain time
curl -fs -o /dev/null -H "Authorization: Bearer $token" -H "Content-Type: application/json" -X POST \
  -d "{\"id\":\"bench\",\"pgUrl\":\"postgresql://postgres@127.0.0.1:$port/postgres\",\"pgdata\":\"$data\"}" \
  "http://127.0.0.1:$api_port/v1/databases"
until [ "$(psql_ "select '$(durable)'::pg_lsn >= '$end_lsn'::pg_lsn")" = "t" ]; do sleep 0.2; done
t1=$(now)
echo "Tidemark's JVM used $(python3 -c "print(f'{$(cpu_seconds)-$c0:.1f}')") s of CPU while draining; by thread (s):" \
  "$(for t in /proc/"$server_pid"/task/*; do echo "$(tr ' ' _ < "$t/comm") $(awk '{print $14, $15}' "$t/stat")"; done \
     | awk -v hz="$(getconf CLK_TCK)" '$1 ~ /^wal/ {u[$1] += $2; k[$1] += $3} END {for (n in u) printf "%s %.1f user + %.1f system; ", n, u[n] / hz, k[n] / hz}')"
sender=$(psql_ "select pid from pg_stat_replication where application_name <> 'walreceiver' limit 1")
[ -n "$sender" ] && echo "PostgreSQL's walsender used $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$sender/stat") s of CPU"
tm=$(python3 -c "print(f'{$bytes/1048576/($t1-$t0):.0f}')")
echo "Tidemark drained the backlog in $(python3 -c "print(f'{$t1-$t0:.1f}')") s: $tm MiB/s ($(python3 -c "print(f'{$tm/$pgbr:.2f}')")x pgBackRest)"

echo "== Tidemark lag under pgbench -c 8 TPC-B for $load_seconds s (sampled every second)"
as_pg "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -c 8 -j 2 -T "$load_seconds" -n postgres > "$root/pgbench.out" 2>&1 &
load=$!
: > "$root/lag"
while kill -0 "$load" 2>/dev/null; do
  curl -fs -H "Authorization: Bearer $token" "http://127.0.0.1:$api_port/v1/databases/bench" \
    | python3 -c 'import json,sys; s=json.load(sys.stdin)["streaming"]; print(s.get("lagBytes",0), s.get("lagSeconds",0))' >> "$root/lag" || true
  sleep 1
done
grep -o "tps = [0-9.]*" "$root/pgbench.out" | head -n1
python3 - "$root/lag" <<'PY'
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
b = sorted(r[0] for r in rows); s = sorted(r[1] for r in rows)
p = lambda v, q: v[min(len(v) - 1, int(q * len(v)))]
print(f"{len(rows)} samples: lag bytes p50 {p(b,.5)/1048576:.1f} MiB, p99 {p(b,.99)/1048576:.1f} MiB, max {b[-1]/1048576:.1f} MiB;"
      f" lag seconds p50 {p(s,.5):.1f}, p99 {p(s,.99):.1f}, max {s[-1]:.1f}")
PY
