#!/usr/bin/env bash
# Where a job's time goes outside the engine's own timing: from the operator's command to its result. A small pgbench
# cluster, a Tidemark server, then ROUNDS base backups and ROUNDS point-in-time restores through the CLI (--wait), each
# followed by the same job through a plain HTTP client that polls every 5 ms, which splits the CLI's extra time into
# the JVM's start and exit, the request, the engine's work before and after the runner, and the CLI's polling.
#   bench/cli-overhead.sh [SCALE]      (pgbench scale, default 10)
#   ROUNDS=3 bench/cli-overhead.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scale="${1:-10}"
. "$here/bench/common.sh"
bench_setup tidemark-overhead

pgbackrest_conf "$root" "$data" "$port"
init_cluster
as_pg pgbackrest --config="$root/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
as_pg "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s "$scale" -q postgres >/dev/null 2>&1
start_tidemark "$here" "$root" "$api_port"
cli db add bench --pg-url "postgresql://postgres@127.0.0.1:$port/postgres" --pgdata "$data" >/dev/null
sleep 2
cli backup base bench --wait --json >/dev/null 2>&1
psql_ "create table marker(at timestamptz default clock_timestamp())" >/dev/null
psql_ "insert into marker default values" >/dev/null
target=$(psql_ "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
target_iso="${target/ /T}Z"
sleep 1
psql_ "insert into marker default values" >/dev/null
until cli window bench --json | grep -q "$(date -u +%Y-%m-%d)"; do sleep 0.5; done
sleep 2

jvm_best() {
  local best=99 t0 t1
  for _ in 1 2 3; do
    t0=$(now); "$@" >/dev/null 2>&1 || true; t1=$(now)
    best=$(python3 -c "print(f'{min($best, $t1 - $t0):.3f}')")
  done
  echo "$best"
}
echo "JVM start (tidemark --version, best of 3): $(jvm_best "$here/tidemark" --version) s;" \
  "one call (tidemark restore list, best of 3): $(jvm_best cli restore list bench) s"

# report JSON T0 T1 LABEL: the CLI's time against the engine's (startedAt to completedAt)
report() {
  python3 - "$@" <<'PY'
import json, sys, datetime
d = json.load(open(sys.argv[1]))
f = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
engine = (f(d["completedAt"]) - f(d["startedAt"])).total_seconds()
cli = float(sys.argv[3]) - float(sys.argv[2])
requested = f(d["requestedAt"]).timestamp() - float(sys.argv[2])
print(f"{sys.argv[4]} through the CLI: {cli:.3f} s, engine {engine:.3f} s, CLI over the engine {cli - engine:.3f} s"
      f" (command to requestedAt {requested:.3f} s, requested to started {(f(d['startedAt']) - f(d['requestedAt'])).total_seconds():.3f} s,"
      f" completedAt to the CLI's exit {float(sys.argv[3]) - f(d['completedAt']).timestamp():.3f} s); {d['status']}")
PY
}

# direct METHOD PATH [BODY]: the same job through a plain client polling every 5 ms
direct() {
  python3 - "http://127.0.0.1:$api_port" "$(cat "$root/tm/admin.token")" "$@" <<'PY'
import json, sys, time, datetime, urllib.request
base, token, path = sys.argv[1], sys.argv[2].strip(), sys.argv[3]
body = sys.argv[4].encode() if len(sys.argv) > 4 else b""
def call(method, p, data=None):
    r = urllib.request.Request(base + p, data=data, method=method, headers={"Authorization": "Bearer " + token,
                                                                             "Content-Type": "application/json"})
    with urllib.request.urlopen(r) as resp:
        return json.load(resp)
t0 = time.time()
v = call("POST", path, body)
t1 = time.time()
seen = {}
while v["status"] in ("requested", "running"):
    time.sleep(0.005)
    v = call("GET", path + "/" + v["id"])
    seen.setdefault(v["status"], time.time())
t2 = time.time()
f = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
print(f"  plain client: POST {t1 - t0:.3f} s (requestedAt {f(v['requestedAt']) - t0:.3f} s after it was sent), started"
      f" {f(v['startedAt']) - t1:.3f} s after the POST's answer, running seen {seen.get('running', t2) - f(v['startedAt']):.3f} s after"
      f" startedAt, {v['status']} seen {t2 - f(v['completedAt']):.3f} s after completedAt; engine"
      f" {f(v['completedAt']) - f(v['startedAt']):.3f} s, total {t2 - t0:.3f} s")
PY
}

rounds="${ROUNDS:-3}"
for round in $(seq 1 "$rounds"); do
  echo "-- round $round"
  t0=$(now); cli backup base bench --wait --json > "$root/b.json" 2>/dev/null; t1=$(now)
  report "$root/b.json" "$t0" "$t1" "base backup"
  direct /v1/databases/bench/base-backups
  p2=$(free_port)
  t0=$(now)
  cli restore bench --time "$target_iso" --target-dir "$root/tm-restored" --port "$p2" --wait --json > "$root/r.json" 2>/dev/null
  t1=$(now)
  report "$root/r.json" "$t0" "$t1" "restore to a time"
  as_pg "$bin/pg_ctl" -D "$root/tm-restored" -m fast stop >/dev/null || true
  rm -rf "$root/tm-restored" "$root"/tm-restored.tidemark-*
  p2=$(free_port)
  direct /v1/databases/bench/restores "{\"time\":\"$target_iso\",\"latest\":false,\"inPlace\":false,\"targetDir\":\"$root/tm-restored\",\"port\":$p2}"
  as_pg "$bin/pg_ctl" -D "$root/tm-restored" -m fast stop >/dev/null || true
  rm -rf "$root/tm-restored" "$root"/tm-restored.tidemark-*
done
