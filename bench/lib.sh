# Shared by bench/run and bench/storm (sourced, from the repository's root):
# the tools they need, the release build, a seeded database per scale kept
# under target/bench for the next run, and the release server on it.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
WORK=$PWD/target/bench
# AMBITO_BIN runs a given binary instead of building one (an earlier build,
# to compare before and after a change).
BIN=${AMBITO_BIN:-$PWD/target/release/ambito}
# The private cluster runs as the postgres system user when we are root.
as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)

# need COMMAND [PACKAGE]: installs Debian's PACKAGE (COMMAND's name by
# default) when root, else says what is missing.
need() {
  command -v "$1" >/dev/null && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${2:-$1}" >/dev/null
  else
    echo "$0: $1 is missing: sudo apt-get install ${2:-$1}" >&2; exit 1
  fi
}

build_release() {
  [ -n "${AMBITO_BIN:-}" ] || cargo build --release -q
  mkdir -p "$WORK"
  chmod 755 "$WORK" "$PWD/target" 2>/dev/null || true
}

# seed_scale SCALE: generates the scale's database once (`ambito seed`);
# $WORK/SCALE/seeded holds how long it took, as a line of the results.
seed_scale() {
  local scale=$1 dir=$WORK/$1 start
  [ -f "$dir/seeded" ] && return
  rm -rf "$dir"
  start=$(date +%s.%N)
  "$BIN" --data-dir "$dir" --log-format json seed --scale "$scale" --seed 1 | tee "$WORK/$scale-seed.txt"
  python3 -c "import sys,time; print('{\"scale\": \"%s\", \"seed_seconds\": %.1f}' % (sys.argv[1], time.time() - float(sys.argv[2])))" \
    "$scale" "$start" > "$dir/seeded"
}

# port_free PORT: stops the run if something already answers on PORT: a
# server left by an earlier run would be measured instead of this one.
port_free() {
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    echo "$0: port $1 is taken (a server left by an earlier run?)" >&2; exit 1
  fi
}

# timed CONNECTIONS SECONDS URL FILE [WRAPPER...]: one run of wrk with
# bench/wrk.lua sending FILE's requests (prepare.py's lines) to URL; prints
# the JSON of its RESULT line. A WRAPPER (bench/cpu.py and its options,
# ending in --) runs wrk under it.
timed() {
  local conns=$1 seconds=$2 url=$3 file=$4
  shift 4
  "$@" wrk -t2 -c"$conns" -d"${seconds}s" --timeout 10s -s bench/wrk.lua "$url" -- "$file" | sed -n 's/^RESULT //p'
}

# start_ambito SCALE PORT [SERVE ARGS...]: the release server on the scale's
# database, in the background ($server), once it answers /health. With
# UNDER (an array: a profiler and its options), the server runs under it.
start_ambito() {
  local scale=$1 port=$2
  shift 2
  port_free "$port"
  ${UNDER[@]+"${UNDER[@]}"} "$BIN" --data-dir "$WORK/$scale" --db-pool-size "${POOL:-16}" serve --demo=false \
    --listen "127.0.0.1:$port" "$@" > "$WORK/$scale-serve.log" 2>&1 &
  server=$!
  # A server under a profiler takes longer to start: up to two minutes.
  for _ in $(seq 600); do curl -sf -o /dev/null "http://127.0.0.1:$port/health" && return; sleep 0.2; done
  kill "$server" 2>/dev/null
  echo "$0: the server did not start; see $WORK/$scale-serve.log" >&2; exit 1
}

# prepare_requests SCALE PORT OUT JWT_SECRET: signs in the bench's
# organisations on the server at PORT and writes their requests under OUT
# (bench/prepare.py; `-` for JWT_SECRET: Ambito's requests only). Prints
# what prepare.py prints: the callers of each pgbench ceiling.
prepare_requests() {
  local psql=("${as_pg[@]}" "$PG_BIN/psql" -h "$WORK/$1/postgres" -U ambito -d ambito) year
  year=$("${psql[@]}" -Atc "SELECT school_year FROM collection_windows LIMIT 1")
  mkdir -p "$3" && chmod 777 "$3"
  python3 bench/prepare.py "http://127.0.0.1:$2/graphql" "$3" "${year:0:4}/${year:4:2}" "$4" "${psql[@]}"
}
