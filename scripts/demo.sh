#!/usr/bin/env bash
# Quick start: install Phonebank into .venv (first run only) and run `phonebank demo` on the
# embedded default (SQLite in ./phonebank.db). Arguments go to `phonebank demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/phonebank ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e .
fi
exec .venv/bin/phonebank demo "$@"
