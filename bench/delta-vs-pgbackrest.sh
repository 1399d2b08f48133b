#!/usr/bin/env bash
# Restore in place of a stopped database after 5% of its rows changed since the base backup, to a moment after the
# changes: Tidemark's default in-place restore (the old directory moved aside, matching files copied from it),
# Tidemark's delta without a copy (--delta) and pgBackRest --delta, on one pgbench cluster in one run (docs/benchmarks.md).
# Every restore starts from the same stopped directory (a copy of it put back, then sync).
#   bench/delta-vs-pgbackrest.sh [SCALE]          (default 100, about 1.5 GiB)
#   UPDATE=range bench/delta-vs-pgbackrest.sh     (the 5% as one range of aid instead of every 20th row)
#   ROUNDS=1 ...                                  (default 2: the second round in the reverse order)
#   ORDER="delta default" ...                     (what each round runs, in that order: pgbackrest, default, delta)
#   FRESH=1 ...                                   (each round on a new cluster and database: no round restores what
#                                                   an earlier round's restores left in the repository)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
scale="${1:-100}"
rounds="${ROUNDS:-2}"
. "$here/bench/common.sh"
bench_setup tidemark-delta

db=bench
rows=$((scale * 100000 / 20))
if [ "${UPDATE:-spread}" = range ]; then
  where="aid <= $rows"
else
  where="aid % 20 = 0"
fi
lsn() { python3 -c "import sys; h, l = sys.argv[1].split('/'); print((int(h, 16) << 32) + int(l, 16))" "$1"; }

# prepare: a pgbench cluster, both backups, the update, the target, the server stopped and its directory copied
prepare() {
  echo "== cluster: pgbench scale $scale, data checksums, port $port, database $db"
  pgbackrest_conf "$root" "$data" "$port" "start-fast=y"
  init_cluster "shared_buffers = 256MB" "max_wal_size = 4GB"
  as_pg pgbackrest --config="$root/pgbackrest.conf" --stanza=bench stanza-create >/dev/null
  as_pg "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -i -s "$scale" -q postgres 2>&1 | tail -n1
  psql_ "checkpoint" >/dev/null

  [ -n "$server_pid" ] || start_tidemark "$here" "$root" "$api_port" -Dtidemark.workers=2
  cli db add "$db" --pg-url "postgresql://postgres@127.0.0.1:$port/postgres" --pgdata "$data" >/dev/null
  sleep 2
  as_pg pgbackrest --config="$root/pgbackrest.conf" --stanza=bench --type=full backup
  cli backup base "$db" --wait --json > /dev/null 2>&1

  t0=$(now); psql_ "update pgbench_accounts set abalance = abalance + 1 where $where" >/dev/null; t1=$(now)
  echo "updated $rows of $((scale * 100000)) rows ($where) in $(seconds "$t0" "$t1") s"
  target=$(psql_ "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')")
  target_iso="${target/ /T}Z"
  sleep 1
  psql_ "create table after_target(id int)" >/dev/null
  switched=$(psql_ "select pg_switch_wal()")
  last_wal=$(psql_ "select pg_walfile_name('$switched')")
  until [ "$(psql_ "select coalesce(last_archived_wal, '') >= '$last_wal' from pg_stat_archiver")" = "t" ]; do sleep 0.5; done
  # stopped once Tidemark's stream has everything written (the stream ends with the server: what it received since its
  # last upload of the segment being written would be missing, and --delta refused)
  insert=$(psql_ "select pg_current_wal_insert_lsn()")
  next_segment=$(python3 -c "import sys; h, l = sys.argv[1].split('/'); v = ((((int(h, 16) << 32) + int(l, 16)) >> 24) + 1) << 24; print(f'{v >> 32:X}/{v & 0xFFFFFFFF:X}')" "$switched")
  [ "$(lsn "$insert")" -lt "$(lsn "$next_segment")" ] && insert="$next_segment"   # the switched segment's end, uploaded whole
  for _ in $(seq 1 120); do
    durable=$(cli db status "$db" --json | python3 -c "import json, sys; print(json.load(sys.stdin).get('streaming', {}).get('durableLsn') or '0/0')")
    [ "$(lsn "$durable")" -ge "$(lsn "$insert")" ] && break
    sleep 0.5
  done
  as_pg "$bin/pg_ctl" -D "$data" -m fast stop >/dev/null
  checkpoint=$(LC_ALL=C as_pg "$bin/pg_controldata" -D "$data" | sed -n 's/^Latest checkpoint location: *//p')
  echo "stopped at checkpoint $checkpoint; Tidemark's WAL durable to $durable; target $target"
  cp -a "$data" "$root/data.orig"
  size=$(du -sb --exclude=pg_wal "$data" | cut -f1)
  echo "data directory without pg_wal: $((size / 1048576)) MiB"
}

# FRESH=1: every round on a cluster of its own (a new database id), so that no round restores a repository that earlier
# rounds' in-place restores gave new timelines (the restore reads their WAL, and the later mode in a round pays for it)
fresh_cluster() {
  as_pg "$bin/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
  cli db remove "$db" >/dev/null
  db="bench$1"
  rm -rf "$data" "$data".tidemark-* "$root/data.orig" "$root/pgbr-repo"
}

# the stopped directory back as it was before each restore, written back to disk
reset_data() {
  as_pg "$bin/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$data" "$data".tidemark-moved-*
  cp -a "$root/data.orig" "$data"
  sync
}

check() {
  local sum after
  sum=$(psql_ "select sum(abalance) from pgbench_accounts")
  after=$(psql_ "select coalesce(to_regclass('after_target')::text, 'none')")
  if [ "$sum" = "$rows" ] && [ "$after" = none ]; then echo "as at the target"; else echo "WRONG: sum(abalance) $sum, after_target $after"; fi
}

# waits until no base backup is requested or running (an in-place restore asks for one after it)
await_backups() {
  until cli backup list "$db" --json | python3 -c "import json, sys; d = json.load(sys.stdin); sys.exit(any(b['status'] in ('requested', 'running') for b in d['baseBackups']))"; do
    sleep 1
  done
}

run_pgbackrest() {
  reset_data
  t0=$(now)
  # timeline 1: every restore before this one promoted the server onto a new timeline, and the server, run with its own
  # configuration again, archived that timeline's history into pgBackRest's archive too; 'latest' would follow it
  as_pg pgbackrest --config="$root/pgbackrest.conf" --stanza=bench --delta --type=time "--target=$target+00" --target-action=promote \
    --target-timeline=1 restore
  as_pg "$bin/pg_ctl" -D "$data" -l "$root/pgbr-restored.log" -w -t 600 start >/dev/null
  until [ "$(psql_ 'select pg_is_in_recovery()' 2>/dev/null)" = "f" ]; do
    # a recovery that failed ends the server: say so instead of waiting for ever
    as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1 || { echo "pgBackRest's recovery failed: $(tail -n 3 "$root/pgbr-restored.log")" >&2; exit 1; }
    sleep 0.1
  done
  t1=$(now)
  echo "pgBackRest --delta in place (restore, replay, promoted): $(seconds "$t0" "$t1") s; $(check)"
  echo "pgbackrest $(seconds "$t0" "$t1")" >> "$root/times"
}

run_tidemark() { # $1: name, then the restore's options
  local name="$1"; shift
  reset_data
  t0=$(now)
  cli restore "$db" --time "$target_iso" --in-place "$@" --wait --json > "$root/tm-restore.json" 2> "$root/tm-restore.err" || true
  t1=$(now)   # the CLI's time alone (the check below starts a Python of its own)
  # a refused request prints no job: say why
  if ! python3 -c "import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get('status') else 1)" "$root/tm-restore.json" 2>/dev/null; then
    echo "Tidemark $name: the request failed: $(tr '\n' ' ' < "$root/tm-restore.err") $(tr '\n' ' ' < "$root/tm-restore.json")"
  fi
  python3 - "$root/tm-restore.json" "$name" "$root/times" <<'PY'
import json, sys, datetime
d = json.load(open(sys.argv[1]))
f = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
took = f"{(f(d['completedAt']) - f(d['startedAt'])).total_seconds():.1f} s" if d.get('completedAt') and d.get('startedAt') else "-"
print(f"Tidemark {sys.argv[2]}, as the engine timed it: {took}; {d.get('status')} ({d.get('message') or d.get('failure')})")
with open(sys.argv[3], "a") as out:
    out.write(f"{sys.argv[2]} (engine) {took.split()[0]}\n")
PY
  echo "Tidemark $name through the CLI: $(seconds "$t0" "$t1") s; $(check)"
  echo "$name $(seconds "$t0" "$t1")" >> "$root/times"
  await_backups
}

prepare
for round in $(seq 1 "$rounds"); do
  if [ "${FRESH:-0}" = 1 ] && [ "$round" -gt 1 ]; then
    fresh_cluster "$round"
    prepare
  fi
  echo "== round $round"
  if [ -n "${ORDER:-}" ]; then
    order="$ORDER"
  elif [ $((round % 2)) = 1 ]; then
    order="pgbackrest default delta"
  else
    order="delta default pgbackrest"
  fi
  for what in $order; do
    case "$what" in
      pgbackrest) run_pgbackrest ;;
      default) run_tidemark "in place (default)" ;;
      delta) run_tidemark "delta without a copy" --delta ;;
      *) echo "ORDER: unknown restore '$what' (pgbackrest, default or delta)" >&2; exit 2 ;;
    esac
  done
done
python3 - "$root/times" <<'PY'
import sys, collections
t = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, s = line.rsplit(" ", 1)
    if s.strip() != "-":
        t[name].append(float(s))
mean = {k: sum(v) / len(v) for k, v in t.items() if v}
print("means: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(mean.items())))
for how in ("", " (engine)"):
    d, f, p = mean.get("delta without a copy" + how), mean.get("in place (default)" + how), mean.get("pgbackrest")
    if d and f and p:
        print(f"delta / default in place{how}: {d / f:.2f}; delta{how} / pgBackRest --delta: {d / p:.2f}")
PY
