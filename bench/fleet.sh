#!/usr/bin/env bash
# A fleet on one node (issue 19): N small clusters protected by one Tidemark server, side by side in the same run with
# N pg_receivewal processes (what Barman runs per server) on the same clusters, each on a slot of its own
# (docs/benchmarks.md).
# Needs: the PostgreSQL server packages (pg_receivewal, pgbench); run as root or as the postgres user.
#   bench/fleet.sh [N] [IDLE_SECONDS] [LOAD_SECONDS]      (defaults 20, 60 and 60)
# Order: clusters and pg_receivewal started; the server started; registration of all; a first base backup of each
# (queued under tidemark.max-concurrent-jobs); idle; a load of 10 small transactions a second on every database;
# time until each window reaches its last commit; one restore of a random database to a random moment of the load,
# its table compared with the source's at that moment. FLEET_JAVA_OPTS: the server's JVM options (default -Xmx256m).
# The idle window also prints the server's CPU by thread name, the WAL the clusters wrote in it, and the streams' CPU split
# by whether their cluster wrote any; FLEET_IDLE_ONLY=1 ends the run there (a profiling run, N=0 for the server's floor).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
n="${1:-20}"
idle_seconds="${2:-60}"
load_seconds="${3:-60}"
. "$here/bench/common.sh"
bench_setup tidemark-fleet

# rss_kib PID...: resident memory of the processes, summed (KiB)
rss_kib() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0))); done; echo "$t"; }
# cpu_of PID...: user + system CPU seconds of the processes so far
cpu_of() { local p; for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null || true; done \
  | awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); t += $12 + $13} END {printf "%.2f\n", t / hz}'; }
ratio() { python3 -c "print(f'{$1/$2:.2f}' if $2 else 'n/a')"; }
# wal_lsns: every cluster's pg_current_wal_lsn, one a line, in order (read in parallel, not by the engine)
wal_lsns() { local i pids=(); for i in "${!ports[@]}"; do
    as_pg "$bin/psql" -h 127.0.0.1 -p "${ports[$i]}" -U postgres -Atqc "select pg_current_wal_lsn()" postgres > "$root/lsn$i" 2>/dev/null &
    pids+=("$!")
  done; [ ${#pids[@]} = 0 ] || wait "${pids[@]}" || true   # not a bare wait: the server is a child too
  for i in "${!ports[@]}"; do cat "$root/lsn$i"; done; }
# thread_ticks: the server's threads, one "tid name user+system-ticks system-ticks run-nanoseconds" line each (the last
# from schedstat: exact, where a thread that runs 50 us a second shows in ticks of 10 ms only by chance)
thread_ticks() { local t; for t in /proc/"$server_pid"/task/*; do
    echo "${t##*/} $(tr ' ' _ < "$t/comm" 2>/dev/null) $(sed 's/.*) //' "$t/stat" 2>/dev/null | awk '{print $12 + $13, $13}') $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null)" || true; done; }
# by_thread BEFORE AFTER T0 T1: the server's CPU between two thread_ticks, grouped by thread name with the digits
# taken out (wal-db17 and wal-db3 are one "wal-db#"), largest first, in % of a core; threads that ended are not counted
by_thread() { python3 - "$@" "$(getconf CLK_TCK)" <<'PY'
import re, sys
before, after, t0, t1, hz = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
def read(path):
    r = {}
    for line in open(path):
        f = line.split()
        if len(f) == 5:  # the total in run nanoseconds, the kernel's share in ticks
            r[f[0]] = (f[1], int(f[4]) * hz / 1e9, int(f[3]))
    return r
a, b = read(before), read(after)
groups, system, counts = {}, {}, {}
for tid, (name, ticks, sys_ticks) in b.items():
    _, t_before, s_before = a.get(tid, (name, 0, 0))
    g = re.sub(r"[0-9]+", "#", name)
    groups[g] = groups.get(g, 0) + ticks - t_before
    system[g] = system.get(g, 0) + sys_ticks - s_before
    counts[g] = counts.get(g, 0) + 1
span = t1 - t0
total = sum(groups.values())
print(f"idle CPU by thread ({span:.0f} s, threads alive at the end, {total / hz / span * 100:.2f}% of a core in all;"
      " of it in the kernel):")
for g, d in sorted(groups.items(), key=lambda kv: -kv[1]):
    if d > 0:
        print(f"  {g:<24} x{counts[g]:<4} {d / hz:6.2f} s  {d / hz / span * 100:5.2f}%  ({system[g] / hz / span * 100:5.2f}%)")
PY
}

echo "== $n clusters (shared_buffers 16MB, max_connections 10), each with pg_receivewal on a slot of its own"
t0=$(now)
ports=(); rw_pids=()
mkdir -p "$root/logs"; [ "$(id -u)" = 0 ] && chown postgres "$root/logs"   # kept out of ROOT/*.log, which the cleanup copies to /tmp
for i in $(seq 0 $((n - 1))); do
  d="$root/pg$i"; p=$(free_port)
  while [[ " ${ports[*]} $api_port " == *" $p "* ]]; do p=$(free_port); done   # free_port may hand out one port twice
  ports+=("$p")
  ( as_pg "$bin/initdb" -D "$d" -A trust -U postgres >/dev/null
    {
      echo "port = $p"; echo "listen_addresses = '127.0.0.1'"; echo "unix_socket_directories = '$root'"
      echo "wal_level = replica"; echo "max_wal_senders = 4"; echo "max_replication_slots = 4"
      echo "shared_buffers = 16MB"; echo "max_connections = 10"
      # FLEET_AUTOVACUUM=off: a diagnostic run whose clusters write no WAL at all in the idle minute (what a stream
      # costs when nothing arrives); the reported runs keep autovacuum on
      echo "autovacuum = ${FLEET_AUTOVACUUM:-on}"
    } >> "$d/postgresql.conf"
    as_pg "$bin/pg_ctl" -D "$d" -l "$root/logs/pg$i.log" -w start >/dev/null ) &
  if (( (i + 1) % 4 == 0 )); then wait; fi
done
wait
for i in $(seq 0 $((n - 1))); do
  p=${ports[$i]}
  as_pg "$bin/psql" -h 127.0.0.1 -p "$p" -U postgres -Atqc "create table load(id bigserial primary key, at timestamptz not null default clock_timestamp(), pad text)
    ; select pg_create_physical_replication_slot('rw', true)" postgres >/dev/null
  mkdir -p "$root/rw$i"; [ "$(id -u)" = 0 ] && chown postgres "$root/rw$i"
  as_pg "$bin/pg_receivewal" -h 127.0.0.1 -p "$p" -U postgres -S rw -D "$root/rw$i" -n > "$root/logs/rw$i.log" 2>&1 &
  rw_pids+=("$!")
done
sleep 2
rw_real=(); for pid in "${rw_pids[@]}"; do rw_real+=("$(pgrep -P "$pid" pg_receivewal || echo "$pid")"); done   # runuser's child
echo "clusters ready in $(seconds "$t0" "$(now)") s"

start_tidemark "$here" "$root" "$api_port" ${FLEET_JAVA_OPTS:--Xmx256m}
token=$(cat "$root/tm/admin.token")
api() { curl -sS -H "Authorization: Bearer $token" -H "Content-Type: application/json" "$@"; }

echo "== registration of all $n"
t0=$(now)
for i in $(seq 0 $((n - 1))); do
  code=$(api -o "$root/register.out" -w '%{http_code}' -X POST \
    -d "{\"id\":\"db$i\",\"pgUrl\":\"postgresql://postgres@127.0.0.1:${ports[$i]}/postgres\",\"pgdata\":\"$root/pg$i\"}" \
    "http://127.0.0.1:$api_port/v1/databases")
  [ "$code" = 201 ] || { echo "registering db$i failed ($code): $(cat "$root/register.out")" >&2; exit 1; }
done
echo "registered $n databases in $(seconds "$t0" "$(now)") s"

echo "== a first base backup of each (asked for at once; the engine runs them under its job limit)"
t0=$(now)
for i in $(seq 0 $((n - 1))); do api -o /dev/null -X POST "http://127.0.0.1:$api_port/v1/databases/db$i/base-backups"; done
python3 - "$api_port" "$token" "$n" <<'PY'
import http.client, json, sys, time
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
api = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
deepest = 0
while True:
    done = failed = 0
    for i in range(n):
        api.request("GET", f"/v1/databases/db{i}/base-backups", headers={"Authorization": f"Bearer {token}"})
        backups = json.loads(api.getresponse().read())
        deepest = max([deepest] + [b.get("queuePosition") or 0 for b in backups])
        done += any(b["status"] == "completed" for b in backups)
        failed += any(b["status"] == "failed" for b in backups)
    if done + failed == n:
        break
    time.sleep(0.5)
print(f"{done} completed, {failed} failed; deepest queue position seen: {deepest}")
PY
echo "base backups of all $n in $(seconds "$t0" "$(now)") s"

echo "== idle for $idle_seconds s"
if [ "${FLEET_SETTLE:-1}" = 1 ]; then
  # New clusters are not idle after their first base backup: autovacuum's first pass over the catalogs writes up to a
  # few hundred KiB of WAL each (mostly full-page images) within the next minute or two. A database of a real fleet
  # has long had that pass; to measure what an idle one costs, it is done here (VACUUM, then a CHECKPOINT so that the
  # next change writes no full-page image either). FLEET_SETTLE=0 measures the minute right after the backups instead.
  t_settle=$(now)
  vacuums=()   # waited for by PID: a bare wait would wait for the server too
  for i in $(seq 0 $((n - 1))); do
    as_pg "$bin/psql" -h 127.0.0.1 -p "${ports[$i]}" -U postgres -Atqc "vacuum" postgres >/dev/null &
    vacuums+=("$!")
    if (( (i + 1) % 8 == 0 )); then wait "${vacuums[@]}"; vacuums=(); fi
  done
  if (( ${#vacuums[@]} > 0 )); then wait "${vacuums[@]}"; fi
  for i in $(seq 0 $((n - 1))); do as_pg "$bin/psql" -h 127.0.0.1 -p "${ports[$i]}" -U postgres -Atqc "checkpoint" postgres >/dev/null; done
  sleep 20   # the streams upload what the vacuum wrote; the servers' last snapshot records follow within 15 s
  echo "settled (VACUUM and CHECKPOINT on every cluster, then 20 s) in $(seconds "$t_settle" "$(now)") s"
else
  sleep 5   # the base backups' last WAL settles
fi
wal_lsns > "$root/wal0"
thread_ticks > "$root/threads0"
c0=$(cpu_seconds); r0=$(cpu_of "${rw_real[@]}"); t0=$(now)
sleep "$idle_seconds"
c1=$(cpu_seconds); r1=$(cpu_of "${rw_real[@]}"); t1=$(now)
thread_ticks > "$root/threads1"
wal_lsns > "$root/wal1"
by_thread "$root/threads0" "$root/threads1" "$t0" "$t1"
python3 - "$root/wal0" "$root/wal1" "$t0" "$t1" "$root/threads0" "$root/threads1" "$(getconf CLK_TCK)" <<'PY'
import re, sys
def lsns(path):
    return [int(a, 16) << 32 | int(b, 16) for a, b in (l.strip().split("/") for l in open(path) if "/" in l)]
a, b = lsns(sys.argv[1]), lsns(sys.argv[2])
moved = [y - x for x, y in zip(a, b)]
if moved:
    print(f"idle WAL written by the {len(moved)} clusters (pg_current_wal_lsn before/after, read outside the CPU window):"
          f" {sum(moved) / 1024:.0f} KiB in all, {sum(m > 0 for m in moved)} clusters wrote any, at most {max(moved) / 1024:.0f} KiB one")
    # each stream's thread (wal-dbI) against what its cluster wrote: what a quiet database costs, what one that wrote does
    span, hz = float(sys.argv[4]) - float(sys.argv[3]), int(sys.argv[7])
    def ticks(path):
        return {f[0]: (f[1], int(f[4]) * hz / 1e9) for f in (l.split() for l in open(path)) if len(f) == 5}
    t0, t1 = ticks(sys.argv[5]), ticks(sys.argv[6])
    groups = {"wrote at most 1 KiB": [0, 0], "wrote more": [0, 0]}
    for tid, (name, t) in t1.items():
        m = re.fullmatch(r"wal-db(\d+)", name)
        if m and int(m.group(1)) < len(moved):
            g = groups["wrote at most 1 KiB" if moved[int(m.group(1))] <= 1024 else "wrote more"]
            g[0] += t - t0.get(tid, (name, 0))[1]
            g[1] += 1
    for label, (d, k) in groups.items():
        if k:
            print(f"  streams whose cluster {label}: {k}, {100 * d / hz / span:.2f}% of a core, {100 * d / hz / span / k:.4f}% each")
PY
tm_rss=$(rss_kib "$server_pid"); rw_rss=$(rss_kib "${rw_real[@]}")
tm_cpu=$(python3 -c "print(f'{100*($c1-$c0)/($t1-$t0):.2f}')"); rw_cpu=$(python3 -c "print(f'{100*($r1-$r0)/($t1-$t0):.2f}')")
echo "idle: Tidemark $((tm_rss / 1024)) MiB resident, ${tm_cpu}% of a core; $n pg_receivewal $((rw_rss / 1024)) MiB resident in all, ${rw_cpu}% of a core;" \
  "ratio of memory $(ratio "$tm_rss" "$rw_rss"), of CPU $(ratio "$tm_cpu" "$rw_cpu")"

if [ -n "${FLEET_IDLE_ONLY:-}" ]; then kill "${rw_pids[@]}" 2>/dev/null || true; exit 0; fi   # a profiling run: no load, no restore

echo "== $load_seconds s of 10 small transactions a second on every database"
echo "insert into load(pad) values (repeat('x', 100));" > "$root/tx.sql"; chmod 644 "$root/tx.sql"
load_pids=()
c0=$(cpu_seconds); r0=$(cpu_of "${rw_real[@]}"); t0=$(now)
for i in $(seq 0 $((n - 1))); do
  as_pg "$bin/pgbench" -h 127.0.0.1 -p "${ports[$i]}" -U postgres -n -c 1 -R 10 -T "$load_seconds" -f "$root/tx.sql" postgres \
    > "$root/pgbench$i.out" 2>&1 &
  load_pids+=("$!")
done
# one sampler: every database's stream lag (seconds) once a second while the load runs
python3 - "$api_port" "$token" "$n" "$load_seconds" > "$root/lag.out" <<'PY'
import http.client, json, sys, time
port, token, n, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
api = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
lags = []
end = time.time() + seconds
while time.time() < end:
    api.request("GET", "/v1/databases", headers={"Authorization": f"Bearer {token}"})
    for d in json.loads(api.getresponse().read()):
        lags.append((d.get("streaming") or {}).get("lagSeconds") or 0)
    time.sleep(1)
lags.sort()
p = lambda q: lags[min(len(lags) - 1, int(q * len(lags)))]
print(f"stream lag over {len(lags)} samples: p50 {p(.5):.1f} s, p99 {p(.99):.1f} s, max {lags[-1]:.1f} s")
PY
wait "${load_pids[@]}" || true
c1=$(cpu_seconds); r1=$(cpu_of "${rw_real[@]}"); t1=$(now)
cat "$root/lag.out"
tm_cpu=$(python3 -c "print(f'{100*($c1-$c0)/($t1-$t0):.2f}')"); rw_cpu=$(python3 -c "print(f'{100*($r1-$r0)/($t1-$t0):.2f}')")
echo "load: Tidemark ${tm_cpu}% of a core, $((($(rss_kib "$server_pid")) / 1024)) MiB resident; $n pg_receivewal ${rw_cpu}% of a core;" \
  "ratio of CPU $(ratio "$tm_cpu" "$rw_cpu")"
# how long after the load each window reached the database's last commit: the windows are polled first (one call for
# all, every 0.2 s, for 30 s), the last commits read after, so that reading them delays nothing
python3 - "$api_port" "$token" "$n" "$bin" "${ports[@]}" <<'PY'
import http.client, json, subprocess, sys, time, datetime
port, token, n, bin_ = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
ports = sys.argv[5:]
api = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
seen = []   # (poll time, {db: window end})
end = time.time() + 30
while time.time() < end:
    t = time.time()
    api.request("GET", "/v1/databases", headers={"Authorization": f"Bearer {token}"})
    ends = {}
    for d in json.loads(api.getresponse().read()):
        e = (d.get("window") or {}).get("end")
        if e:
            ends[d["id"]] = datetime.datetime.fromisoformat(e.replace("Z", "+00:00")).timestamp()
    seen.append((t, ends))
    time.sleep(0.2)
def last_commit(p):
    out = subprocess.run([f"{bin_}/psql", "-h", "127.0.0.1", "-p", p, "-U", "postgres", "-Atc",
                          "select extract(epoch from max(at)) from load", "postgres"], capture_output=True, text=True).stdout.strip()
    return float(out)
d = []
for i in range(n):
    last = last_commit(ports[i])
    first = next((t for t, ends in seen if ends.get(f"db{i}", 0) >= last), None)
    if first is not None:
        d.append(max(0.0, first - last))
d.sort()
p = lambda q: d[min(len(d) - 1, int(q * len(d)))]
print(f"windows at their last commit: {len(d)} of {n}; seconds after the commit p50 {p(.5):.1f}, p99 {p(.99):.1f}, max {d[-1]:.1f}"
      " (polled every 0.2 s plus one call's time)")
PY

echo "== one restore of a random database to a random moment of the load, checked exact"
i=$(( RANDOM % n )); p=${ports[$i]}
# a moment between two commits: the restore must hold exactly the rows up to the first of them
read -r moment upto <<< "$(as_pg "$bin/psql" -h 127.0.0.1 -p "$p" -U postgres -Atc "
  with r as (select id, at, lead(at) over (order by id) nxt from load)
  select to_char((at + (nxt - at) / 2) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), id
  from r where nxt is not null order by random() limit 1" postgres | tr '|' ' ')"
expected=$(as_pg "$bin/psql" -h 127.0.0.1 -p "$p" -U postgres -Atc "select count(*), md5(string_agg(id || ':' || at, ',' order by id)) from load where id <= $upto" postgres)
rport=$(free_port); mkdir -p "$root/restored"; [ "$(id -u)" = 0 ] && chown postgres "$root/restored"
t0=$(now)
rid=$(api -X POST -d "{\"time\":\"$moment\",\"targetDir\":\"$root/restored/db$i\",\"port\":$rport}" \
  "http://127.0.0.1:$api_port/v1/databases/db$i/restores" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
until status=$(api "http://127.0.0.1:$api_port/v1/databases/db$i/restores/$rid" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])') \
  && [[ "$status" != requested && "$status" != running ]]; do sleep 1; done
got=$(as_pg "$bin/psql" -h 127.0.0.1 -p "$rport" -U postgres -Atc "select count(*), md5(string_agg(id || ':' || at, ',' order by id)) from load" postgres 2>/dev/null || echo "none")
as_pg "$bin/pg_ctl" -D "$root/restored/db$i" -m fast stop >/dev/null 2>&1 || true
echo "restore of db$i to $moment: $status in $(seconds "$t0" "$(now)") s; rows up to id $upto: expected $expected, restored $got:" \
  "$([ "$got" = "$expected" ] && echo EXACT || echo DIFFERENT)"

kill "${rw_pids[@]}" 2>/dev/null || true
