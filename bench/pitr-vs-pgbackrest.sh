#!/usr/bin/env bash
# Point-in-time restore with about 1 GiB of WAL to replay, Tidemark beside pgBackRest (archive-get async): set up once,
# then ROUNDS restores by each (default 1), the order alternating from round to round, and the median and spread.
#   bench/pitr-vs-pgbackrest.sh [WAL_SCALE]     (pgbench scale written after the backups, default 70: about 1 GiB of WAL)
#   ROUNDS=5 ORDER=tidemark-first bench/pitr-vs-pgbackrest.sh 70
# TIDEMARK_BENCH_JAVA_OPTS passes engine settings to the server; VARIANTS (below) compares several in the same run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wal_scale="${1:-70}"
. "$here/bench/common.sh"
bench_setup tidemark-pitr

pgbackrest_conf "$root" "$data" "$port" "archive-async=y" "spool-path=$root/pgbr-spool" "start-fast=y"
init_cluster "max_wal_size = 4GB"
as_pg pgbackrest --config="$root/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
as_pg "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s 10 -q postgres >/dev/null 2>&1

start_tidemark "$here" "$root" "$api_port"
cli db add bench --pg-url "postgresql://postgres@127.0.0.1:$port/postgres" --pgdata "$data" >/dev/null
sleep 2
as_pg pgbackrest --config="$root/pgbackrest.conf" --stanza=bench --type=full backup
cli backup base bench --wait --json > /dev/null 2>&1

start_lsn=$(psql_ "select pg_current_wal_lsn()")
psql_ "create database more" >/dev/null
as_pg "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s "$wal_scale" -q more >/dev/null 2>&1
psql_ "create table marker(at timestamptz default clock_timestamp())" >/dev/null
psql_ "insert into marker default values" >/dev/null
target=$(psql_ "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
target_iso="${target/ /T}Z"
sleep 1
psql_ "insert into marker default values" >/dev/null
wal=$(psql_ "select pg_wal_lsn_diff(pg_current_wal_lsn(), '$start_lsn')::bigint")
last_wal=$(psql_ "select pg_walfile_name(pg_switch_wal())")
until [ "$(psql_ "select coalesce(last_archived_wal, '') >= '$last_wal' from pg_stat_archiver")" = "t" ]; do sleep 0.5; done
until cli window bench | grep -q "$(date -u +%Y-%m-%d)"; do sleep 0.5; done
sleep 3
echo "WAL to replay after the backups: $((wal / 1048576)) MiB; target $target"

run_pgbackrest() {
  t0=$(now)
  as_pg pgbackrest --config="$root/pgbackrest.conf" --stanza=bench --pg1-path="$root/pgbr-restored" --type=time "--target=$target+00" \
    --target-action=promote restore
  p1=$(free_port)
  printf "port = %s\narchive_mode = off\n" "$p1" >> "$root/pgbr-restored/postgresql.auto.conf"
  as_pg "$bin/pg_ctl" -D "$root/pgbr-restored" -l "$root/pgbr-restored.log" -w -t 600 start >/dev/null
  until [ "$(as_pg "$bin/psql" -h 127.0.0.1 -p "$p1" -U postgres -Atc 'select pg_is_in_recovery()' 2>/dev/null)" = "f" ]; do sleep 0.1; done
  t1=$(now)
  pgbr_s=$(seconds "$t0" "$t1")
  echo "pgBackRest PITR (restore, archive-get async, replay, promoted): $pgbr_s s; rows at target: $(as_pg "$bin/psql" -h 127.0.0.1 -p "$p1" -U postgres -Atc 'select count(*) from marker')"
  as_pg "$bin/pg_ctl" -D "$root/pgbr-restored" -m fast stop >/dev/null
  cp "$root/pgbr-restored.log" "$root/pgbr-restored-round$round.log" 2>/dev/null || true
  rm -rf "$root/pgbr-restored"
}

# the Tidemark server's CPU time so far, and its JIT compiler threads' (clock ticks of 10 ms)
server_cpu() {
  local all jit=0 t
  all=$(sed 's/^.*) //' "/proc/$server_pid/stat" | awk '{print $12 + $13}')   # utime, stime (after the command's name)
  for t in /proc/"$server_pid"/task/*; do
    case "$(cat "$t/comm" 2>/dev/null)" in C1\ Compi*|C2\ Compi*) jit=$((jit + $(sed 's/^.*) //' "$t/stat" | awk '{print $12 + $13}'))) ;; esac
  done
  echo "$all $jit"
}

run_tidemark() {
  p2=$(free_port)
  # PERF_DIR=dir: the whole machine sampled by perf through each Tidemark restore (dir/tidemark-roundN.data; give the
  # server -XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit in TIDEMARK_BENCH_JAVA_OPTS for its Java frames)
  perf_pid=""
  if [ -n "${PERF_DIR:-}" ]; then
    mkdir -p "$PERF_DIR"
    perf record -a -g -F 499 -o "$PERF_DIR/tidemark-round$round.data" >/dev/null 2>&1 & perf_pid=$!
    sleep 0.5
  fi
  cpu0=$(server_cpu)
  t0=$(now)
  cli restore bench --time "$target_iso" --target-dir "$root/tm-restored" --port "$p2" --wait --json > "$root/tm-restore.json" 2>/dev/null
  t1=$(now)
  cpu1=$(server_cpu)
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; fi
  tm_s=$(seconds "$t0" "$t1")
  python3 - "$root/tm-restore.json" "$t0" "$t1" <<'PY'
import json, sys, datetime
d = json.load(open(sys.argv[1]))
f = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
engine = (f(d['completedAt']) - f(d['startedAt'])).total_seconds()
t0, t1 = float(sys.argv[2]), float(sys.argv[3])
print(f"Tidemark PITR, as the engine timed it (download, WAL prefetch, replay, promoted): {engine:.1f} s; {d['status']}")
# the CLI's time outside the engine's: its start and the request's checks, the job's start, the answer's way back
print(f"  the CLI over the engine {t1 - t0 - engine:.2f} s: command to requested {f(d['requestedAt']).timestamp() - t0:.2f} s,"
      f" requested to started {(f(d['startedAt']) - f(d['requestedAt'])).total_seconds():.2f} s,"
      f" completed to the CLI's exit {t1 - f(d['completedAt']).timestamp():.2f} s")
for line in (d.get('message') or '').split('; '):
    if line.startswith('phases'):
        print(f"  {line}")
PY
  echo "Tidemark PITR through the CLI: $tm_s s; rows at target: $(as_pg "$bin/psql" -h 127.0.0.1 -p "$p2" -U postgres -Atc 'select count(*) from marker')"
  read -r all0 jit0 <<< "$cpu0"; read -r all1 jit1 <<< "$cpu1"
  echo "  the server's CPU through the restore: $(echo "$all0 $all1" | awk '{printf "%.2f", ($2 - $1) / 100}') s, of it its JIT compilers $(echo "$jit0 $jit1" | awk '{printf "%.2f", ($2 - $1) / 100}') s"
  as_pg "$bin/pg_ctl" -D "$root/tm-restored" -m fast stop >/dev/null || true
  cp "$root/tm-restored.tidemark-restore.log" "$root/tm-restored-round$round.log" 2>/dev/null || true
  rm -rf "$root/tm-restored" "$root"/tm-restored.tidemark-*
}

# each run starts with the page cache written back (the load above, the other run's shutdown checkpoint);
# ORDER=tidemark-first runs Tidemark first in the first round; the order alternates from round to round, so that it
# does not decide the result
rounds="${ROUNDS:-1}"
# VARIANTS: Tidemark servers to compare in each round, "label=JVM options" separated by ";" (each restarts the server
# with its options, the setup kept, and gives its warm-up WARMUP seconds, default 5), e.g.
# VARIANTS="tuned=;untuned=-Dtidemark.restore.recovery-tuning-skip=all"; a label may name another checkout to run as
# "label@DIR" (the code before a change, say: git worktree add DIR COMMIT)
IFS=';' read -r -a variants <<< "${VARIANTS:-tidemark=}"
current_opts="$here "   # the server the setup started
run_variants() {
  for v in "${variants[@]}"; do
    label="${v%%=*}"; opts="${v#*=}"; dir="$here"
    if [[ "$label" == *@* ]]; then dir="${label#*@}"; label="${label%%@*}"; fi
    if [ "$dir $opts" != "$current_opts" ]; then
      kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
      # shellcheck disable=SC2086
      start_tidemark "$dir" "$root" "$api_port" $opts
      current_opts="$dir $opts"
      sleep "${WARMUP:-5}"
    fi
    sync; echo "[$label]"; run_tidemark
    results+=("$label $tm_s")
  done
}
results=()
all_variants=("${variants[@]}")
# BLOCKS=1: each variant's ROUNDS in a block of their own (one server start per variant, so every restore but the
# block's first runs on a warm server, as an operator's would); otherwise every round runs every variant
if [ "${BLOCKS:-0}" = 1 ]; then blocks=("${all_variants[@]}"); else blocks=("ALL"); fi
for block in "${blocks[@]}"; do
  if [ "$block" != "ALL" ]; then variants=("$block"); fi
  first="${ORDER:-pgbackrest-first}"
  for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds ($first)"
    if [ "$first" = "tidemark-first" ]; then
      run_variants; sync; run_pgbackrest; first=pgbackrest-first
    else
      sync; run_pgbackrest; run_variants; first=tidemark-first
    fi
    results+=("pgbackrest $pgbr_s")
  done
done
python3 - "${results[@]}" <<'PY'
import statistics, sys
rounds, current = [], {}
for a in sys.argv[1:]:
    label, secs = a.rsplit(' ', 1)
    current[label] = float(secs)
    if label == 'pgbackrest':
        rounds.append(current); current = {}
labels = []
for x in rounds:
    labels += [k for k in x if k != 'pgbackrest' and k not in labels]
for label in labels:
    mine = [x for x in rounds if label in x]
    r = [x[label] / x['pgbackrest'] for x in mine]
    line = f"{label}: Tidemark through the CLI / pgBackRest, by round: " + ", ".join(f"{x:.2f}" for x in r)
    if len(r) > 1:
        line += (f"; median {statistics.median(r):.2f}, spread {min(r):.2f}-{max(r):.2f}; Tidemark median"
                 f" {statistics.median(x[label] for x in mine):.1f} s, pgBackRest median {statistics.median(x['pgbackrest'] for x in mine):.1f} s")
    print(line)
PY
