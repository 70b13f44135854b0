#!/usr/bin/env bash
# The one test command (README, .ci/run): install dipwatch with its test extras, start the real
# Kafka and InfluxDB on loopback (installed on first use), then run every test.
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m pip install --quiet --disable-pip-version-check -e '.[test]'
bash deploy/local/services.sh up
python -m pytest -q "$@"
