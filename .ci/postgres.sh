#!/usr/bin/env bash
# CI: make sure a PostgreSQL server (initdb, pg_ctl, postgres) is installed for the PostgreSQL journal tests.
# The tests start their own throwaway servers (tests/support/postgres.py); this only installs the binaries.
# Idempotent and quiet: when initdb is already there it does nothing (a few milliseconds).
set -euo pipefail

have_initdb() {
    [[ -n "${AGENTSTOP_PG_BINDIR:-}" && -x "${AGENTSTOP_PG_BINDIR}/initdb" ]] && return 0
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
    command -v initdb >/dev/null 2>&1
}

have_initdb && exit 0

if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    echo ".ci/postgres.sh: PostgreSQL is not installed; as root on Debian/Ubuntu run: apt-get install -y postgresql" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# postgresql-common first, so the package does not create (and try to start) a default cluster
# on port 5432 that nobody uses: the tests make their own.
apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null
conf=/etc/postgresql-common/createcluster.conf
if grep -qE '^#?[[:space:]]*create_main_cluster' "$conf"; then
    sed -ri 's/^#?[[:space:]]*create_main_cluster.*$/create_main_cluster = false/' "$conf"
else
    echo 'create_main_cluster = false' >>"$conf"
fi
apt-get install -y -qq --no-install-recommends postgresql >/dev/null

have_initdb || { echo ".ci/postgres.sh: installed postgresql but found no initdb" >&2; exit 1; }
