#!/usr/bin/env bash
# The one test command (README, .ci/run): install dipwatch with its test extras, start the real
# Kafka and InfluxDB on loopback (installed on first use), then run every test.
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
bash deploy/local/services.sh up
# The report's browser test needs headless Chromium: Debian's package, installed once where we may.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; then
    as_root=$([ "$(id -u)" = 0 ] && echo "" || echo "sudo -n")
    $as_root apt-get update -qq && $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || echo "test.sh: could not install chromium; the browser test will be skipped" >&2
  else
    echo "test.sh: chromium is missing and this user cannot install packages; the browser test will be skipped" >&2
  fi
fi
python -m pytest -q "$@"
