# Picks a JDK >= 21 for the build and for the tidemark launcher; sourced by ./mvnw, ./tidemark and .ci/run.
# JAVA_HOME wins when it qualifies; otherwise the newest JDK under the usual system directories.
tidemark_jdk_major() {
  # the JDK's release file says it without starting a JVM (each start costs a few hundred milliseconds)
  if [ -f "$1/release" ]; then
    sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$1/release" | head -n1
  else
    "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n1
  fi
}
tidemark_pick_jdk() {
  if [ -n "${JAVA_HOME-}" ] && [ -x "$JAVA_HOME/bin/javac" ]; then
    v=$(tidemark_jdk_major "$JAVA_HOME")
    if [ -n "$v" ] && [ "$v" -ge 21 ] 2>/dev/null; then return 0; fi
  fi
  best=""; bestv=0
  case $- in *f*) set +f; tidemark_glob_off=1 ;; esac
  for d in /usr/lib/jvm/* /opt/java/* /opt/jdk* /usr/local/java/* "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/*; do
    [ -x "$d/bin/javac" ] || continue
    v=$(tidemark_jdk_major "$d")
    case "$v" in ''|*[!0-9]*) continue ;; esac
    if [ "$v" -ge 21 ] && [ "$v" -gt "$bestv" ]; then best="$d"; bestv="$v"; fi
  done
  [ -z "${tidemark_glob_off-}" ] || set -f
  if [ -z "$best" ]; then
    echo "Tidemark needs a JDK 21 or newer, and none was found (JAVA_HOME=${JAVA_HOME-unset}, /usr/lib/jvm)." >&2
    echo "Install one, for example: apt-get install openjdk-21-jdk-headless (or Temurin 21+), then run again." >&2
    return 1
  fi
  JAVA_HOME="$best"; export JAVA_HOME
}
tidemark_pick_jdk || exit 1
