#!/usr/bin/env bash
# Installs the local BigQuery emulator (bqemulator, DuckDB-backed) into .tools/venv from
# tools/emulator-requirements.txt, and links DuckDB's spatial extension (shipped by the pip
# package duckdb-extension-spatial) where DuckDB looks for it, so the emulator starts with no
# network. Idempotent: does nothing when the stamp matches the requirements and the install
# is intact. scripts/emulator.sh runs what this installs; docs/emulators.md says why.
#
# Environment (optional):
#   PYTHON   interpreter used to create .tools/venv when it does not exist (python3; needs >= 3.11)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
REQUIREMENTS="$ROOT/tools/emulator-requirements.txt"
STAMP="$TOOLS/emulator.stamp"
# DuckDB's home for the emulator process: scripts/emulator.sh runs it with HOME set here, so
# DuckDB's extension directory is $DUCKDB_HOME/.duckdb/extensions, inside the project.
DUCKDB_HOME="$TOOLS/bqemulator-home"

say() { echo "install-emulator: $*"; }
die() { echo "install-emulator: error: $*" >&2; exit 1; }

[[ -f "$REQUIREMENTS" ]] || die "$REQUIREMENTS is missing"
want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"

installed_ok() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] || return 1
  [[ -x "$VENV/bin/bqemulator" ]] || return 1
  # The link is dangling if the venv was recreated: check the target exists.
  compgen -G "$DUCKDB_HOME/.duckdb/extensions/v*/*/spatial.duckdb_extension" >/dev/null || return 1
  local ext
  for ext in "$DUCKDB_HOME"/.duckdb/extensions/v*/*/spatial.duckdb_extension; do
    [[ -e "$ext" ]] || return 1
  done
}

mkdir -p "$TOOLS"
# Separate from setup.sh's lock (setup.sh holds that one while it calls this script).
if command -v flock >/dev/null 2>&1; then
  exec 8>"$TOOLS/emulator-install.lock"
  flock 8
fi

if installed_ok; then
  exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  py="${PYTHON:-python3}"
  command -v "$py" >/dev/null 2>&1 || die "$py is not installed (bqemulator needs Python >= 3.11)"
  say "creating Python venv in .tools/venv"
  "$py" -m venv "$VENV" || die "could not create $VENV (Debian/Ubuntu: apt-get install python3-venv)"
fi
"$VENV/bin/python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' ||
  die "$VENV uses Python $("$VENV/bin/python" -c 'import platform; print(platform.python_version())'); bqemulator needs >= 3.11 (remove .tools/venv and rerun with PYTHON=python3.11 or newer)"

say "installing the BigQuery emulator (pip -r tools/emulator-requirements.txt)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --progress-bar off -r "$REQUIREMENTS" ||
  die "pip could not install tools/emulator-requirements.txt"

# Link the packaged spatial extension to <home>/.duckdb/extensions/v<duckdb>/<platform>/.
read -r ext_src ext_dst < <("$VENV/bin/python" - "$DUCKDB_HOME" <<'PY'
import os, sys, duckdb, duckdb_extension_spatial
version = duckdb.__version__
platform = duckdb.execute("PRAGMA platform").fetchone()[0]
src = os.path.join(os.path.dirname(duckdb_extension_spatial.__file__), "extensions", f"v{version}", "spatial.duckdb_extension")
dst = os.path.join(sys.argv[1], ".duckdb", "extensions", f"v{version}", platform, "spatial.duckdb_extension")
print(src, dst)
PY
) || die "could not locate the spatial extension in .tools/venv"
[[ -f "$ext_src" ]] || die "duckdb-extension-spatial does not match the installed duckdb: $ext_src is missing"
mkdir -p "$(dirname "$ext_dst")"
ln -sfn "$ext_src" "$ext_dst"

# Smoke test: the extension loads from there without network.
HOME="$DUCKDB_HOME" "$VENV/bin/python" -c 'import duckdb; c = duckdb.connect(); c.execute("INSTALL spatial"); c.execute("LOAD spatial")' ||
  die "DuckDB could not load the spatial extension from $ext_dst"
"$VENV/bin/bqemulator" --help >/dev/null || die ".tools/venv/bin/bqemulator does not run"

echo "$want" >"$STAMP"
say "installed bqemulator $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("bqemulator"))') (duckdb $("$VENV/bin/python" -c 'import duckdb; print(duckdb.__version__)'))"
