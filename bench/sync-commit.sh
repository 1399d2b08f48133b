#!/usr/bin/env bash
# Commit latency under pgbench TPC-B (-c 8) with five ways of keeping the WAL, in one run (docs/benchmarks.md):
# no archiving; Tidemark asynchronous; Tidemark synchronous on a file repository; Tidemark synchronous on S3 (an S3Proxy
# process on loopback, its filesystem store); pg_receivewal --synchronous as the synchronous standby (Barman's way).
# Each phase: TPS and the per-transaction latency p50/p99 from pgbench's log (-l).
# Needs: the PostgreSQL server packages; run as root or as the postgres user, holding the shared Maven lock, e.g.
#   flock /tmp/tidemark-mvn.lock bench/sync-commit.sh [SECONDS] [SCALE]      (defaults 60 and 20)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
scale="${2:-20}"
. "$here/bench/common.sh"
bench_setup tidemark-synccommit
# no archive_command: the last lines win over init_cluster's
init_cluster "archive_mode = off" "shared_buffers = 256MB" "max_wal_size = 4GB" "max_replication_slots = 10"
as_pg "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s "$scale" -q postgres >/dev/null 2>&1
psql_ "checkpoint" >/dev/null
results="$root/results"
: > "$results"

standby_names() { psql_ "alter system set synchronous_standby_names = '$1'" >/dev/null; psql_ "select pg_reload_conf()" >/dev/null; }
# await_sync NAME: until the server waits for the walsender of NAME
await_sync() {
  for _ in $(seq 1 300); do
    [ "$(psql_ "select sync_state from pg_stat_replication where application_name = '$1'")" = sync ] && return 0
    sleep 0.1
  done
  echo "the server does not wait for $1" >&2; exit 1
}
# load LABEL: pgbench TPC-B, 8 clients, for the given seconds; appends "LABEL TPS p50 p99" (latencies in ms)
load() {
  local label="$1" dir="$root/pgbench-$(echo "$1" | tr ' /' '__')"
  mkdir -p "$dir"; chown postgres "$dir" 2>/dev/null || true
  psql_ "checkpoint" >/dev/null
  (cd "$dir" && as_pg "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -c 8 -j 2 -T "$seconds" -n -l postgres > "$dir/out.txt" 2>&1)
  python3 - "$label" "$dir" >> "$results" <<'PY'
import glob, re, sys
label, d = sys.argv[1], sys.argv[2]
lat = sorted(int(l.split()[2]) for f in glob.glob(d + "/pgbench_log.*") for l in open(f) if l.strip())
tps = re.search(r"tps = ([0-9.]+)", open(d + "/out.txt").read()).group(1)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] / 1000
print(f"{label}|{float(tps):.0f}|{q(0.50):.2f}|{q(0.99):.2f}")
PY
  tail -n1 "$results"
}
# api METHOD PATH [JSON]: the Tidemark server's API with the admin token
api() {
  curl -fsS -H "Authorization: Bearer $(cat "$root/tm/admin.token")" -H "Content-Type: application/json" -X "$1" \
    ${3:+-d "$3"} "http://127.0.0.1:$api_port$2"
}
# tidemark_phases ID LABEL: registers ID, measures it asynchronous (file repository only), then synchronous
tidemark_phases() {
  local id="$1" name="tidemark_${1//-/_}"
  api POST /v1/databases "{\"id\":\"$id\",\"pgUrl\":\"postgresql://postgres@127.0.0.1:$port/postgres\",\"pgdata\":\"$data\"}" >/dev/null
  until api GET "/v1/databases/$id" | grep -q '"state":"streaming"'; do sleep 0.5; done
  if [ "$2" = file ]; then load "Tidemark asynchronous"; fi
  api PATCH "/v1/databases/$id/policy" '{"synchronous":true}' >/dev/null
  standby_names "$name"
  await_sync "$name"
  load "Tidemark synchronous, $2 repository"
  standby_names ""
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  drop_slot "$name"
}
# drop_slot NAME: once its walsender has gone
drop_slot() {
  for _ in $(seq 1 50); do
    psql_ "select pg_drop_replication_slot('$1')" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
}

echo "== pgbench -i -s $scale, then TPC-B -c 8 for $seconds s per phase"
load "no archiving"

echo "== pg_receivewal --synchronous"
as_pg "$bin/pg_receivewal" -h 127.0.0.1 -p "$port" -U postgres -D "$root" --create-slot -S bench_receivewal >/dev/null 2>&1 || true
mkdir -p "$root/receivewal"; chown postgres "$root/receivewal" 2>/dev/null || true
as_pg "$bin/pg_receivewal" -h 127.0.0.1 -p "$port" -U postgres -D "$root/receivewal" -S bench_receivewal --synchronous -n \
  > "$root/receivewal.log" 2>&1 &
receiver=$!
standby_names pg_receivewal
await_sync pg_receivewal
load "pg_receivewal --synchronous"
standby_names ""
kill "$receiver"; wait "$receiver" 2>/dev/null || true
drop_slot bench_receivewal

echo "== Tidemark, file repository"
tm_dir="$root/tm" start_tidemark "$here" "$root" "$api_port"
tidemark_phases bench file

echo "== Tidemark, S3 (S3Proxy on loopback)"
# the storage module's test classpath holds S3Proxy. The dependency plugin needs artifacts of its own that an offline
# machine may lack (commons-beanutils), so the classpath is read from the test compiler's configuration in Maven's debug
# output ("(f) testPath = [...]"), which Maven resolves from the local repository alone
(cd "$here" && ./mvnw -B -o -X test-compile -pl storage 2>/dev/null) | python3 -c '
import sys
path = ""
for line in sys.stdin:
    if "(f) testPath = [" in line:
        path = ":".join(p.strip() for p in line.split("[", 1)[1].rsplit("]", 1)[0].split(","))
print(path)' > "$root/s3proxy.cp" || true
if [ ! -s "$root/s3proxy.cp" ]; then
  echo "S3 phase skipped: S3Proxy's classpath could not be read from Maven's output (see $root/s3proxy.cp)" >&2
else
  s3_port=$(free_port)
  mkdir -p "$root/s3/tidemark"
  cat > "$root/s3proxy.properties" <<PROPS
s3proxy.endpoint=http://127.0.0.1:$s3_port
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=bench
s3proxy.credential=bench-secret
jclouds.provider=filesystem-nio2
jclouds.filesystem.basedir=$root/s3
PROPS
  # jackson-annotations 2.21 ahead of the 2.18 its dependencies pull in (shared/LEARNED.md)
  annotations=$(ls ~/.m2/repository/com/fasterxml/jackson/core/jackson-annotations/2.21*/jackson-annotations-2.21*.jar 2>/dev/null | head -n1 || true)
  # S3Proxy brings logback, which logs every request at DEBUG without a configuration: warnings only
  printf '%s\n' '<configuration><appender name="o" class="ch.qos.logback.core.ConsoleAppender"><encoder><pattern>%msg%n</pattern></encoder></appender>' \
    '<root level="WARN"><appender-ref ref="o"/></root></configuration>' > "$root/s3proxy-logback.xml"
  # the JDK the build and the launcher pick (>= 21): the test classes on this classpath are compiled for it
  (. "$here/.mvn/jdk.sh"; exec "$JAVA_HOME/bin/java" -Dlogback.configurationFile="$root/s3proxy-logback.xml" -cp "${annotations:+$annotations:}$(cat "$root/s3proxy.cp")" org.gaul.s3proxy.Main \
    --properties "$root/s3proxy.properties") > "$root/s3proxy.log" 2>&1 &
  s3proxy=$!
  until curl -s "http://127.0.0.1:$s3_port/" >/dev/null 2>&1; do sleep 0.5; done
  rm -rf "$root/tm"; api_port=$(free_port)
  TIDEMARK_REPOSITORY_ACCESSKEY=bench TIDEMARK_REPOSITORY_SECRETKEY=bench-secret tm_dir="$root/tm" start_tidemark "$here" "$root" "$api_port" \
    -Dtidemark.repository.uri=s3://tidemark/bench -Dtidemark.repository.endpoint=http://127.0.0.1:$s3_port \
    -Dtidemark.repository.region=us-east-1 -Dtidemark.encryption=none
  tidemark_phases bench-s3 S3
  kill "$s3proxy"; wait "$s3proxy" 2>/dev/null || true
fi

echo
echo "| WAL kept by | TPS | latency p50 (ms) | latency p99 (ms) |"
echo "|---|---|---|---|"
awk -F'|' '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}' "$results"
