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
    echo "compress-type=zst"
    echo "compress-level=3"
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
start_tidemark() {
  local here="$1" root="$2" api_port="$3"; shift 3
  local java_home
  java_home=$(. "$here/.mvn/jdk.sh"; echo "$JAVA_HOME")
  "$java_home/bin/java" --enable-native-access=ALL-UNNAMED -Daxoniq.update-checker.disabled=true -Ddisable-axoniq-console-message=true \
    -Dtidemark.data-directory="$root/tm" -Dtidemark.scheduler.enabled=false -Dserver.port="$api_port" "$@" \
    -jar "$here/api/target/tidemark.jar" serve > "$root/tidemark.log" 2>&1 &
  server_pid=$!
  until curl -fs "http://127.0.0.1:$api_port/actuator/health" >/dev/null 2>&1; do sleep 0.5; done
}
