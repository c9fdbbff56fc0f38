#!/usr/bin/env bash
# The type-check and the lint side by side (each is mostly one core's work): each one's output is printed whole
# when it ends, and the step fails when either fails.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npm run --silent typecheck >"$out/typecheck" 2>&1 &
typecheck=$!
npm run --silent lint >"$out/lint" 2>&1 &
lint=$!

status=0
for name in typecheck lint; do
  if wait "${!name}"; then
    echo "$name: ok"
  else
    code=$?
    echo "$name: failed (exit $code)"
    status=1
  fi
  cat "$out/$name"
done
exit "$status"
