#!/usr/bin/env bash
# Base backup and restore, Tidemark beside pgBackRest and pg_basebackup, on one pgbench cluster in one run
# (docs/benchmarks.md).
# Needs: the PostgreSQL server packages, pgbackrest (apt-get install pgbackrest), run as root or as the postgres user.
#   bench/backup-vs-pgbackrest.sh [SCALE]      (default 100, about 1.5 GiB)
#   COMPRESS=lz4 bench/backup-vs-pgbackrest.sh  (pgBackRest and Tidemark with lz4 instead of zstd level 3)
#   ROUNDS=3      rounds of pg_basebackup -Z server-lz4, pg_basebackup -Z server-zstd:level=3,workers=2 and a Tidemark
#                 base backup, the order turned round every other round (default 3)
#   SHA256_ROUNDS=3  then the Tidemark server is restarted with SHA-256 file checksums (tidemark.backup.file-checksum=sha256)
#                 and as many rounds of pg_basebackup -Z server-lz4 and Tidemark run again (default: as ROUNDS; 0: none)
#   PGBACKREST=no skips pgBackRest's backup and restore
#   VARIANTS="a=;b=-Dx=y"  compares Tidemark servers side by side instead (see below)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scale="${1:-100}"
workers=2
. "$here/bench/common.sh"

bench_setup tidemark-bench

echo "== cluster: pgbench scale $scale, data checksums, port $port"
pgbackrest_conf "$root" "$data" "$port" "start-fast=y"
init_cluster "shared_buffers = 256MB" "max_wal_size = 4GB"
as_pg "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s "$scale" -q postgres 2>&1 | tail -n1
as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -Atc "checkpoint" >/dev/null
size=$(du -sb --exclude=pg_wal "$data" | cut -f1)
echo "data directory without pg_wal: $((size / 1048576)) MiB"

walsize=$(du -sb "$data/pg_wal" | cut -f1)
# the raw read speed, on the files a backup reads and on the whole directory (pg_wal too), each over the bytes read
t0=$(now); tar -cf - -C "$data" --exclude=./pg_wal . | cat > /dev/null; t1=$(now)
echo "raw read of the files a backup reads (tar --exclude=./pg_wal | cat): $(rate "$size" "$t0" "$t1") MiB/s"
t0=$(now); tar -cf - -C "$data" . | cat > /dev/null; t1=$(now)
echo "raw read of the whole directory, with pg_wal's $((walsize / 1048576)) MiB (tar | cat): $(rate "$((size + walsize))" "$t0" "$t1") MiB/s"

codec=$([ "${COMPRESS:-zstd}" = lz4 ] && echo lz4 || echo zstd-3)
if [ "${PGBACKREST:-yes}" != no ]; then
echo "== pgBackRest $(pgbackrest version | cut -d' ' -f2): full backup, $codec, process-max $workers"
as_pg pgbackrest --config="$root/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
t0=$(now); as_pg /usr/bin/time -f "%M" -o "$root/pgbr.rss" pgbackrest --config="$root/pgbackrest.conf" --stanza=bench --type=full backup; t1=$(now)
echo "pgBackRest backup: $(python3 -c "print(f'{$t1-$t0:.1f}')") s, $(rate "$size" "$t0" "$t1") MiB/s, peak RSS $(( $(cat "$root/pgbr.rss") / 1024 )) MiB (main process)"
t0=$(now)
as_pg pgbackrest --config="$root/pgbackrest.conf" --stanza=bench --pg1-path="$root/pgbr-restored" --type=immediate --target-action=promote restore
echo "port = $(free_port)" >> "$root/pgbr-restored/postgresql.auto.conf"
echo "archive_mode = off" >> "$root/pgbr-restored/postgresql.auto.conf"
as_pg "$bin/pg_ctl" -D "$root/pgbr-restored" -l "$root/pgbr-restored.log" -w start >/dev/null
until [ "$(as_pg "$bin/psql" -h "$root" -p "$(grep '^port' "$root/pgbr-restored/postgresql.auto.conf" | tail -n1 | cut -d' ' -f3)" -U postgres -Atc 'select pg_is_in_recovery()' 2>/dev/null)" = "f" ]; do sleep 0.2; done
t1=$(now)
echo "pgBackRest restore (files, start, recovery to consistency, promoted): $(python3 -c "print(f'{$t1-$t0:.1f}')") s, $(rate "$size" "$t0" "$t1") MiB/s"
as_pg "$bin/pg_ctl" -D "$root/pgbr-restored" -m fast stop >/dev/null
fi

# pg_basebackup METHOD: a complete tar backup with its WAL streamed beside it (-X stream), compressed on the server
pg_basebackup_run() {
  local out="$root/pgbb"
  local t0 t1
  t0=$(now)
  as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$port" -U postgres -D "$out" -Ft -X stream -c fast -Z "$1"
  t1=$(now)
  echo "pg_basebackup -Z $1: $(seconds "$t0" "$t1") s, $(rate "$size" "$t0" "$t1") MiB/s, $(( $(du -sb "$out" | cut -f1) / 1048576 )) MiB written" \
    | tee -a "$root/summary"
  rm -rf "$out"
}

# tidemark_backup LABEL: a base backup through the CLI (--wait), with the engine's own time and where it went
tidemark_backup() {
  local t0 t1 c0 c1
  c0=$(cpu_seconds); t0=$(now); cli backup base bench --wait --json > "$root/tm-backup.json" 2>/dev/null; t1=$(now); c1=$(cpu_seconds)
  python3 - "$root/tm-backup.json" "$t0" "$t1" "$jvm" "$1" "$(seconds "$c0" "$c1")" \
    "$(grep 'BaseBackupRunner.*complete:' "$root/tidemark.log" | tail -n1 | sed 's/.*consistent at [^ ]* (//; s/)$//')" "$call" <<'PY' | tee -a "$root/summary"
import json, sys, datetime
d = json.load(open(sys.argv[1]))
f = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
engine = (f(d["completedAt"]) - f(d["startedAt"])).total_seconds()
queued = (f(d["startedAt"]) - f(d["requestedAt"])).total_seconds()
cli = float(sys.argv[3]) - float(sys.argv[2])
jvm = float(sys.argv[4])
call = float(sys.argv[8])
print(f"Tidemark backup ({sys.argv[5]}, {d['status']}): engine {engine:.2f} s, CLI {cli:.2f} s; the CLI over the engine {cli - engine:.2f} s"
      f" ({cli - engine - jvm:.2f} s beyond the JVM start of {jvm:.2f} s, {cli - engine - call:.2f} s beyond one CLI call of {call:.2f} s;"
      f" requested to started {queued:.2f} s); engine CPU {sys.argv[6]} s; {sys.argv[7]}")
PY
}

# best_of_3 COMMAND...: the shortest of three runs, in seconds
best_of_3() {
  local best=99 t0 t1
  for _ in 1 2 3; do
    t0=$(now); "$@" >/dev/null; t1=$(now)
    best=$(python3 -c "print(f'{min($best, $t1 - $t0):.2f}')")
  done
  echo "$best"
}

echo "== Tidemark: base backup, $codec + AES-256-GCM, $workers workers; pg_basebackup $("$bin/pg_basebackup" --version | awk '{print $3}') beside it"
start_tidemark "$here" "$root" "$api_port" -Dtidemark.workers=$workers -Dtidemark.compression="${COMPRESS:-zstd}"
cli db add bench --pg-url "postgresql://postgres@127.0.0.1:$port/postgres" --pgdata "$data" >/dev/null
sleep 2
jvm=$(best_of_3 "$here/tidemark" --version)
call=$(best_of_3 cli backup list bench)
echo "JVM start of the CLI (tidemark --version, best of 3): $jvm s; one CLI call asking the server once (tidemark backup list, best of 3): $call s"
rounds="${ROUNDS:-3}"
if [ -n "${VARIANTS:-}" ]; then
  # VARIANTS: Tidemark servers compared in the same run, "label=JVM options" separated by ";"; a label may name another
  # checkout to run as "label@DIR" (the code before a change, say: git worktree add DIR COMMIT). Each round runs
  # pg_basebackup -Z server-lz4, then each variant on a freshly started server (its warm-up given WARMUP seconds,
  # default 5) with two backups, the first after the start and a second, then pg_basebackup again; the variants'
  # order turns round every round.
  IFS=';' read -r -a variants <<< "$VARIANTS"
  for ((round = 1; round <= rounds; round++)); do
    echo "-- round $round"
    pg_basebackup_run server-lz4
    order=("${variants[@]}")
    if ((round % 2 == 0)); then order=(); for ((i = ${#variants[@]} - 1; i >= 0; i--)); do order+=("${variants[$i]}"); done; fi
    for v in "${order[@]}"; do
      label="${v%%=*}"; opts="${v#*=}"; dir="$here"
      if [[ "$label" == *@* ]]; then dir="${label#*@}"; label="${label%%@*}"; fi
      kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
      # shellcheck disable=SC2086
      start_tidemark "$dir" "$root" "$api_port" -Dtidemark.workers=$workers -Dtidemark.compression="${COMPRESS:-zstd}" $opts
      sleep "${WARMUP:-5}"
      tidemark_backup "$label, first after start"
      tidemark_backup "$label, second"
    done
    pg_basebackup_run server-lz4
  done
  echo "== summary, in run order"
  cat "$root/summary"
  exit 0
fi
for ((round = 1; round <= rounds; round++)); do
  echo "-- round $round"
  if ((round % 2)); then
    pg_basebackup_run server-lz4; pg_basebackup_run server-zstd:level=3,workers=2; tidemark_backup "file checksums: default"
  else
    tidemark_backup "file checksums: default"; pg_basebackup_run server-zstd:level=3,workers=2; pg_basebackup_run server-lz4
  fi
done
rss=$(grep VmHWM "/proc/$server_pid/status" | awk '{print $2}')
echo "Tidemark engine peak RSS $((rss / 1024)) MiB (whole JVM)"
t0=$(now); cli restore bench --latest --target-dir "$root/tm-restored" --port "$(free_port)" --wait --json > "$root/tm-restore.json" 2>/dev/null; t1=$(now)
echo "Tidemark restore (files, WAL, start, recovery, promoted): $(python3 -c "print(f'{$t1-$t0:.1f}')") s, $(rate "$size" "$t0" "$t1") MiB/s"
grep -o '"status" : "[a-z]*"' "$root/tm-backup.json" "$root/tm-restore.json"
python3 - "$root/tm-backup.json" "$root/tm-restore.json" <<'PY'
import json, sys, datetime
def span(path):
    d = json.load(open(path))
    f = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
    return (f(d["completedAt"]) - f(d["startedAt"])).total_seconds()
print(f"Tidemark, as the engine timed them (no CLI start-up or polling): backup {span(sys.argv[1]):.1f} s, restore {span(sys.argv[2]):.1f} s")
PY

sha_rounds="${SHA256_ROUNDS:-$rounds}"
if ((sha_rounds > 0)); then
  echo "== Tidemark restarted with SHA-256 file checksums (-Dtidemark.backup.file-checksum=sha256)"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
  start_tidemark "$here" "$root" "$api_port" -Dtidemark.workers=$workers -Dtidemark.compression="${COMPRESS:-zstd}" \
    -Dtidemark.backup.file-checksum=sha256
  sleep 2
  for ((round = 1; round <= sha_rounds; round++)); do
    echo "-- round $round"
    if ((round % 2)); then
      pg_basebackup_run server-lz4; tidemark_backup "file checksums: SHA-256"
    else
      tidemark_backup "file checksums: SHA-256"; pg_basebackup_run server-lz4
    fi
  done
fi
echo "== summary, in run order"
cat "$root/summary"
