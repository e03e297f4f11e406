#!/usr/bin/env bash
# Regenerate etc/inject.conf.sample from the options' own definitions (never hand-edit it).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/oslo-config-generator --config-file etc/inject-config-generator.conf "$@"
