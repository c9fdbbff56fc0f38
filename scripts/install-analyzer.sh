#!/usr/bin/env bash
# Installs the GoogleSQL analyzer (tools/bq-analyze.py over PyPI zetasql, pinned in tools/analyzer-requirements.txt)
# into .tools/analyzer-venv and compiles its WebAssembly module once into .tools/zetasql.cwasm, so an analysis run
# starts in seconds. Idempotent: does nothing when the stamp matches the requirements.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/analyzer-venv"
REQUIREMENTS="$ROOT/tools/analyzer-requirements.txt"
STAMP="$TOOLS/analyzer.stamp"
CWASM="$TOOLS/zetasql.cwasm"

say() { echo "install-analyzer: $*"; }
die() { echo "install-analyzer: error: $*" >&2; exit 1; }

want="$(sha256sum <"$REQUIREMENTS" | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -f "$CWASM" && -x "$VENV/bin/python" ]]; then
  exit 0
fi
mkdir -p "$TOOLS"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
say "installing zetasql (pip -r tools/analyzer-requirements.txt, log .tools/analyzer-pip.log)"
"$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -r "$REQUIREMENTS" >"$TOOLS/analyzer-pip.log" 2>&1 ||
  { grep -E '^(ERROR|error)' "$TOOLS/analyzer-pip.log" | tail -n 5 >&2; die "pip could not install the analyzer"; }
say "compiling ZetaSQL's WebAssembly module once (about 35 s of CPU)"
"$VENV/bin/python" "$ROOT/tools/bq-analyze.py" --precompile "$CWASM" || die "the analyzer's module did not compile"
echo "$want" >"$STAMP"
say "installed"
