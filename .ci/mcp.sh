#!/usr/bin/env bash
# The real MCP servers the MCP tests run: the reference memory, filesystem and "everything" servers from the
# npm registry, exactly as tests/mcp/servers/package-lock.json pins them. The Python ones come with the `test`
# extra (`pip install -e '.[test]'`): the reference git server (mcp-server-git, pinned there) and the fixture
# server beside the lock file (written with the `mcp` SDK).
set -euo pipefail
cd "$(dirname "$0")/../tests/mcp/servers"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo ".ci/mcp.sh: the MCP tests need Node.js 20+ and npm; install them (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
