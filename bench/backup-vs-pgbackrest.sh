#!/usr/bin/env bash
# Base backup and restore, Tidemark beside pgBackRest, on one pgbench cluster in one run (docs/benchmarks.md).
# Needs: the PostgreSQL server packages, pgbackrest (apt-get install pgbackrest), run as root or as the postgres user.
#   bench/backup-vs-pgbackrest.sh [SCALE]      (default 100, about 1.5 GiB)
#   COMPRESS=lz4 bench/backup-vs-pgbackrest.sh  (both with lz4 instead of zstd level 3)
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

echo "== Tidemark: base backup, $codec + AES-256-GCM, $workers workers"
start_tidemark "$here" "$root" "$api_port" -Dtidemark.workers=$workers -Dtidemark.compression="${COMPRESS:-zstd}"
cli db add bench --pg-url "postgresql://postgres@127.0.0.1:$port/postgres" --pgdata "$data" >/dev/null
sleep 2
c0=$(cpu_seconds); t0=$(now); cli backup base bench --wait --json > "$root/tm-backup.json" 2>/dev/null; t1=$(now); c1=$(cpu_seconds)
rss=$(grep VmHWM "/proc/$server_pid/status" | awk '{print $2}')
echo "Tidemark backup: $(python3 -c "print(f'{$t1-$t0:.1f}')") s, $(rate "$size" "$t0" "$t1") MiB/s, engine peak RSS $((rss / 1024)) MiB (whole JVM), engine CPU $(python3 -c "print(f'{$c1-$c0:.1f}')") s"
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
