# Shared by the benchmark scripts: PostgreSQL binaries, running as the postgres user, ports, clocks, pgBackRest
# configuration and a Tidemark server. Sourced, not run.
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
rate() { python3 -c "print(f'{$1/1048576/($3-$2):.0f}')"; }
seconds() { python3 -c "print(f'{$2-$1:.1f}')"; }

# pgbackrest_conf ROOT DATA PORT [EXTRA GLOBAL OPTION LINES...]: a stanza "bench" with a repository under ROOT.
pgbackrest_conf() {
  local root="$1" data="$2" port="$3"; shift 3
  {
    echo "[global]"
    echo "repo1-path=$root/pgbr-repo"
    echo "process-max=2"
    if [ "${COMPRESS:-zstd}" = lz4 ]; then
      echo "compress-type=lz4"
      echo "compress-level=1"
    else
      echo "compress-type=zst"
      echo "compress-level=3"
    fi
    echo "log-level-console=warn"
    echo "log-path=$root"
    echo "lock-path=$root"
    for line in "$@"; do echo "$line"; done
    echo "[bench]"
    echo "pg1-path=$data"
    echo "pg1-port=$port"
    echo "pg1-socket-path=$root"
  } > "$root/pgbackrest.conf"
  [ "$(id -u)" = 0 ] && chown postgres "$root/pgbackrest.conf"
  return 0
}

# start_tidemark HERE ROOT API_PORT [JAVA -D OPTIONS...]: a Tidemark server with its data under ROOT/tm; sets server_pid.
# TIDEMARK_BENCH_JAVA_OPTS adds JVM options (a profiler, say) to every benchmark's server; tm_dir, when set, is its
# data directory instead of ROOT/tm.
start_tidemark() {
  local here="$1" root="$2" api_port="$3"; shift 3
  "$here/tidemark" --help >/dev/null   # builds the jar first when the sources changed, never under the running server
  # through the launcher, as an operator starts it (its start-up cache included); the launcher execs java
  TIDEMARK_JAVA_OPTS="-Dtidemark.data-directory=${tm_dir:-$root/tm} -Dtidemark.scheduler.enabled=false -Dserver.port=$api_port $* ${TIDEMARK_BENCH_JAVA_OPTS:-}" \
    "$here/tidemark" serve > "$root/tidemark.log" 2>&1 &
  server_pid=$!
  until curl -fs "http://127.0.0.1:$api_port/actuator/health" >/dev/null 2>&1; do sleep 0.5; done
}

# bench_setup NAME: a working directory ROOT (reachable by the postgres user) with DATA, PORT and API_PORT chosen,
# removed on exit with every cluster started under it and the Tidemark server (its log kept as /tmp/NAME-last.log).
bench_setup() {
  root=$(mktemp -d "/tmp/$1-XXXX")
  chmod 755 "$root"; [ "$(id -u)" = 0 ] && chown postgres "$root"
  data="$root/data"; port=$(free_port); api_port=$(free_port)
  bench_name="$1"
  server_pid=""
  trap bench_cleanup EXIT
}

bench_cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true   # it still writes its data directory while it shuts down
  fi
  for pid_file in "$root"/*/postmaster.pid; do
    [ -f "$pid_file" ] && as_pg "$bin/pg_ctl" -D "$(dirname "$pid_file")" -m immediate stop >/dev/null 2>&1 || true
  done
  cp "$root/tidemark.log" "/tmp/$bench_name-last.log" 2>/dev/null || true
  for log in "$root"/*.log "$root"/*/log/*.log; do   # the servers' logs, for a look at where the time went
    [ -f "$log" ] && cp "$log" "/tmp/$bench_name-$(basename "$(dirname "$log")")-$(basename "$log")" 2>/dev/null || true
  done
  rm -rf "$root"
}

# init_cluster [EXTRA postgresql.conf LINES...]: initdb DATA (data checksums), archiving to pgBackRest, start it on PORT.
init_cluster() {
  as_pg "$bin/initdb" -D "$data" -A trust --data-checksums -U postgres >/dev/null
  {
    echo "port = $port"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$root'"
    echo "wal_level = replica"
    echo "max_wal_senders = 10"
    echo "archive_mode = on"
    echo "archive_command = 'pgbackrest --config=$root/pgbackrest.conf --stanza=bench archive-push %p'"
    for line in "$@"; do echo "$line"; done
  } >> "$data/postgresql.conf"
  as_pg "$bin/pg_ctl" -D "$data" -l "$root/pg.log" -w start >/dev/null
}

psql_() { as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -Atc "$1" "${2:-postgres}"; }
cli() { "$here/tidemark" --server "http://127.0.0.1:$api_port" --data-dir "$root/tm" "$@"; }

# cpu_seconds: the Tidemark server's user + system CPU time so far, in seconds
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f\n", ($14 + $15) / hz}' "/proc/$server_pid/stat"; }
# machine_cpu_seconds: CPU time used by everything on this machine so far (user, nice, system, irq, softirq), in seconds
machine_cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / {printf "%.2f\n", ($2 + $3 + $4 + $7 + $8) / hz}' /proc/stat; }
# thread_cpu: the server's threads, one "name user-ticks system-ticks" line each (pools summed under one name)
thread_cpu() {
  for t in /proc/"$server_pid"/task/*; do echo "$(tr ' ' _ < "$t/comm" 2>/dev/null) $(sed 's/.*) //' "$t/stat" 2>/dev/null | awk '{print $12, $13}')" || true; done \
    | sed -E 's/^(C[12]_Compiler|GC_Thread|G1_|wal-upload|http-nio|ForkJoinPool)[^ ]*/\1/'
}
# proc_cpu: every process, one "pid:name ticks" line each (user + system; processes that end while it reads are skipped)
proc_cpu() { { cat /proc/[0-9]*/stat 2>/dev/null || true; } | sed -E 's/ \((.*)\) /:\1 /; s/^([^ ]*) /\1\t/' | tr ' ' _ | tr '\t' ' ' \
  | awk '{split($2, f, "_"); print $1, f[12] + f[13]}'; }
# top_cpu BEFORE AFTER: the processes that used the most CPU between two proc_cpu snapshots
top_cpu() {
  awk -v hz="$(getconf CLK_TCK)" 'NR == FNR {b[$1] = $2; next} {d = $2 - b[$1]; if (d >= 0.1 * hz) printf "%.1f %s\n", d / hz, $1}' "$1" "$2" \
    | sort -rn | head -n 6 | awk '{printf "%s %s s; ", $2, $1}'
}
