#!/usr/bin/env bash
# WAL ingest, Tidemark's stream beside pgBackRest's asynchronous archive-push, on one backlog in one run, then
# Tidemark's lag under a pgbench TPC-B load (docs/benchmarks.md).
# Needs: the PostgreSQL server packages and pgbackrest; run as root or as the postgres user.
#   bench/wal-vs-pgbackrest.sh [BACKLOG_MIB] [LOAD_SECONDS]      (defaults 2048 and 60)
# Tidemark drains the backlog twice: on a freshly started server, then again (from a second slot) on the now
# warm server, as a long-running one is. WAL_VARIANTS="OPTS;OPTS..." repeats that once per variant, each on a
# server started with those JVM options, to compare settings within one run.
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
IFS=';' read -r -a variants <<< "${WAL_VARIANTS:-}"
[ "${#variants[@]}" -gt 0 ] || variants=("")
for i in "${!variants[@]}"; do   # two slots per variant: a drain on a fresh server, then one on the warm server
  psql_ "select pg_create_physical_replication_slot('tidemark_cold$i', true), pg_create_physical_replication_slot('tidemark_bench$i', true)" >/dev/null
done
start_lsn=$(psql_ "select pg_current_wal_lsn()")
echo "== backlog: about $backlog_mib MiB of WAL (archiving held back, a slot keeping it for Tidemark)"
scale=$(( backlog_mib * 10 / 123 + 1 ))   # pgbench -i writes about 12.3 MiB of WAL per scale unit
as_pg "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s "$scale" -q postgres >/dev/null 2>&1
# the backlog's data pages and WAL on disk before any drain: otherwise the checkpoint and the kernel's writeback of
# 3.5 GiB of dirty pages land in whichever drain runs when they come (seen as seconds of kworker CPU in one and not the other)
psql_ "checkpoint" >/dev/null
sync
psql_ "select pg_switch_wal()" >/dev/null
end_lsn=$(psql_ "select pg_current_wal_lsn()")
last_wal=$(psql_ "select pg_walfile_name('$end_lsn'::pg_lsn - 1)")
bytes=$(psql_ "select pg_wal_lsn_diff('$end_lsn', '$start_lsn')::bigint")
echo "backlog: $((bytes / 1048576)) MiB of WAL, up to $last_wal"

echo "== pgBackRest $(pgbackrest version | cut -d' ' -f2) archive-push, async, process-max 2, zst-3"
proc_cpu > "$root/procs0"; m0=$(machine_cpu_seconds); t0=$(now)
psql_ "alter system set archive_command = 'pgbackrest --config=$root/pgbackrest.conf --stanza=bench archive-push %p'" >/dev/null
psql_ "select pg_reload_conf()" >/dev/null
# one psql polling every 100 ms (a process per poll would take CPU from the drain on a small machine)
printf '%s\n' "select coalesce(last_archived_wal, '') >= '$last_wal' from pg_stat_archiver" '\watch 0.1' > "$root/poll.sql"
as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -At -f "$root/poll.sql" postgres 2>/dev/null | grep -m1 -q '^t$' || true
t1=$(now); m1=$(machine_cpu_seconds); proc_cpu > "$root/procs1"
echo "the processes that used the most CPU (those still running): $(top_cpu "$root/procs0" "$root/procs1")"
pgbr=$(python3 -c "print(f'{$bytes/1048576/($t1-$t0):.0f}')")
echo "pgBackRest drained the backlog in $(python3 -c "print(f'{$t1-$t0:.1f}')") s: $pgbr MiB/s;" \
  "the machine used $(python3 -c "print(f'{$m1-$m0:.1f} s of CPU, {($m1-$m0)/$bytes*1073741824:.1f} s per GiB')")"

# drain DB LABEL: registers DB (its slot holds the whole backlog), waits until its durable position reaches the
# backlog's end, prints time, rate and where the CPU went
drain() {
  local db="$1" label="$2"
  proc_cpu > "$root/procs0"; thread_cpu > "$root/threads0"; c0=$(cpu_seconds); m0=$(machine_cpu_seconds); t0=$(now)
  # registered through the API: a CLI call would add its own JVM start (about a second) to the drain time
  local code
  code=$(curl -sS -o "$root/register.out" -w '%{http_code}' -H "Authorization: Bearer $token" -H "Content-Type: application/json" \
    -X POST -d "{\"id\":\"$db\",\"pgUrl\":\"postgresql://postgres@127.0.0.1:$port/postgres\",\"pgdata\":\"$data\"}" \
    "http://127.0.0.1:$api_port/v1/databases")
  [ "$code" = 201 ] || { echo "registering $db failed ($code): $(cat "$root/register.out")" >&2; exit 1; }
  # one poller on one connection, every 100 ms, until the durable position reaches the backlog's end
  python3 - "$api_port" "$token" "$db" "$end_lsn" <<'PY'
import http.client, json, sys, time
port, token, db, end = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
value = lambda lsn: (int(lsn.split("/")[0], 16) << 32) + int(lsn.split("/")[1], 16)
api = http.client.HTTPConnection("127.0.0.1", port)
while True:
    api.request("GET", f"/v1/databases/{db}", headers={"Authorization": f"Bearer {token}"})
    response = api.getresponse(); body = response.read()
    if response.status == 200 and value((json.loads(body).get("streaming") or {}).get("durableLsn") or "0/0") >= value(end):
        break
    time.sleep(0.1)
PY
  t1=$(now); m1=$(machine_cpu_seconds)
  thread_cpu > "$root/threads1"; proc_cpu > "$root/procs1"
  local tm
  echo "$label: the processes that used the most CPU: $(top_cpu "$root/procs0" "$root/procs1")"
  echo "$label: Tidemark's JVM used $(python3 -c "print(f'{$(cpu_seconds)-$c0:.1f}')") s of CPU, by thread (s):" \
    "$(awk -v hz="$(getconf CLK_TCK)" 'NR == FNR {u0[$1] += $2; k0[$1] += $3; next} {u[$1] += $2; k[$1] += $3}
       END {for (n in u) if (u[n] - u0[n] + k[n] - k0[n] >= 0.1 * hz)
         printf "%s %.1f user + %.1f system; ", n, (u[n] - u0[n]) / hz, (k[n] - k0[n]) / hz}' "$root/threads0" "$root/threads1")"
  tm=$(python3 -c "print(f'{$bytes/1048576/($t1-$t0):.0f}')")
  echo "$label: Tidemark drained the backlog in $(python3 -c "print(f'{$t1-$t0:.1f}')") s: $tm MiB/s ($(python3 -c "print(f'{$tm/$pgbr:.2f}')")x pgBackRest);" \
    "the machine used $(python3 -c "print(f'{$m1-$m0:.1f} s of CPU, {($m1-$m0)/$bytes*1073741824:.1f} s per GiB')")"
}

for i in "${!variants[@]}"; do
  tm_dir="$root/tm$i"   # a server of its own per variant
  echo "== Tidemark WAL stream (zstd-3 + AES-256-GCM) from the slot${variants[$i]:+, JVM options: ${variants[$i]}}"
  if [ -n "$server_pid" ]; then kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; fi
  start_tidemark "$here" "$root" "$api_port" ${variants[$i]}
  token=$(cat "$tm_dir/admin.token")
  # the server's start-up warm-up (codec compilation) is over before the first drain starts
  until grep -q "compiled in" "$root/tidemark.log"; do sleep 0.2; done
  drain "cold$i" "fresh server"
  # a server that has run for a while has compiled the whole path: the same backlog again, on a second slot
  code=$(curl -sS -o "$root/delete.out" -w '%{http_code}' -H "Authorization: Bearer $token" -X DELETE "http://127.0.0.1:$api_port/v1/databases/cold$i")
  [ "$code" = 204 ] || { echo "deregistering cold$i failed ($code): $(cat "$root/delete.out")" >&2; exit 1; }
  db="bench$i"
  drain "$db" "warm server"
done

echo "== Tidemark lag under pgbench -c 8 TPC-B for $load_seconds s (sampled every second)"
as_pg "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -c 8 -j 2 -T "$load_seconds" -n postgres > "$root/pgbench.out" 2>&1 &
load=$!
# one sampler on one connection, every second while the load runs (a process per sample is slow on a loaded machine)
python3 - "$api_port" "$token" "$db" "$load" <<'PY'
import http.client, json, os, sys, time
port, token, db, load = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
api = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
rows = []
def running():
    try:
        os.kill(load, 0)
        return True
    except OSError:
        return False
while running():
    api.request("GET", f"/v1/databases/{db}", headers={"Authorization": f"Bearer {token}"})
    response = api.getresponse(); body = response.read()
    if response.status == 200:
        s = json.loads(body).get("streaming") or {}
        rows.append((s.get("lagBytes", 0), s.get("lagSeconds", 0)))
    time.sleep(1)
b = sorted(r[0] for r in rows); s = sorted(r[1] for r in rows)
p = lambda v, q: v[min(len(v) - 1, int(q * len(v)))]
print(f"{len(rows)} samples: lag bytes p50 {p(b,.5)/1048576:.1f} MiB, p99 {p(b,.99)/1048576:.1f} MiB, max {b[-1]/1048576:.1f} MiB;"
      f" lag seconds p50 {p(s,.5):.1f}, p99 {p(s,.99):.1f}, max {s[-1]:.1f}")
PY
wait "$load" || true
grep -o "tps = [0-9.]*" "$root/pgbench.out" | head -n1
