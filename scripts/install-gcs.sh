#!/usr/bin/env bash
# Installs the local GCS-compatible server (fake-gcs-server, pinned) into .tools/bin with `go install`.
# Idempotent: does nothing when the stamp matches the version and the binary is there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VERSION="v1.56.1"
STAMP="$TOOLS/gcs.stamp"

say() { echo "install-gcs: $*"; }
die() { echo "install-gcs: error: $*" >&2; exit 1; }

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" && -x "$TOOLS/bin/fake-gcs-server" ]]; then
  exit 0
fi
command -v go >/dev/null 2>&1 || die "go is not installed (needed once to build fake-gcs-server $VERSION; Debian: apt-get install golang)"
mkdir -p "$TOOLS/bin"
say "building fake-gcs-server $VERSION with go install (about a minute; log .tools/gcs-install.log)"
GOBIN="$TOOLS/bin" GOFLAGS=-modcacherw go install "github.com/fsouza/fake-gcs-server@$VERSION" >"$TOOLS/gcs-install.log" 2>&1 ||
  { tail -n 20 "$TOOLS/gcs-install.log" >&2; die "go install of fake-gcs-server failed"; }
"$TOOLS/bin/fake-gcs-server" -help >/dev/null 2>&1 || [[ $? -le 2 ]] || die ".tools/bin/fake-gcs-server does not run"
echo "$VERSION" >"$STAMP"
say "installed fake-gcs-server $VERSION"
