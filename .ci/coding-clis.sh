#!/usr/bin/env bash
# The real coding CLIs the coding-CLI tests drive against loopback model APIs: Claude Code and Codex from the
# npm registry, exactly as tests/coding_cli/clis/package-lock.json pins them (each ships a native binary as an
# optional platform package; npm ci installs the one for this machine).
set -euo pipefail
cd "$(dirname "$0")/../tests/coding_cli/clis"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo ".ci/coding-clis.sh: the coding-CLI tests need Node.js 20+ and npm; install them (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
