#!/usr/bin/env bash
# Installs the local Apache Kafka broker: the runtime jars of tools/kafka/pom.xml (kafka_2.13, pinned) into
# .tools/kafka/libs with Maven, run by scripts/kafka.sh on the machine's JDK (17 or later).
# Idempotent: does nothing when the stamp matches the pom and the jars are there.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
POM="$ROOT/tools/kafka/pom.xml"
DEST="$TOOLS/kafka"
STAMP="$TOOLS/kafka.stamp"

say() { echo "install-kafka: $*"; }
die() { echo "install-kafka: error: $*" >&2; exit 1; }

want="$(sha256sum "$POM" | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && compgen -G "$DEST/libs/kafka_2.13-*.jar" >/dev/null; then
  exit 0
fi
command -v java >/dev/null 2>&1 || die "java is not installed (the broker needs a JDK 17 or later; Debian: apt-get install openjdk-17-jre-headless)"
command -v mvn >/dev/null 2>&1 || die "mvn is not installed (Debian: apt-get install maven)"

say "installing Apache Kafka (mvn dependency:copy-dependencies of tools/kafka/pom.xml, log .tools/kafka-install.log)"
mkdir -p "$DEST"
rm -rf "$DEST/libs.new"
# The Maven repository stays inside .tools so a clean checkout owns everything it downloaded.
if ! mvn -B -q -f "$POM" -Dmaven.repo.local="$TOOLS/m2" dependency:copy-dependencies \
  -DoutputDirectory="$DEST/libs.new" -DincludeScope=runtime >"$TOOLS/kafka-install.log" 2>&1; then
  tail -n 20 "$TOOLS/kafka-install.log" >&2
  die "mvn could not fetch the Kafka jars"
fi
rm -rf "$DEST/libs"
mv "$DEST/libs.new" "$DEST/libs"
java -cp "$DEST/libs/*" kafka.tools.StorageTool random-uuid >/dev/null || die "the Kafka jars do not run on $(java -version 2>&1 | head -n1)"
echo "$want" >"$STAMP"
say "installed $(basename "$(ls "$DEST"/libs/kafka_2.13-*.jar)" .jar)"
