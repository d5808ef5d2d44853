#!/usr/bin/env bash
# Installs the C client libraries that the `peers` feature needs (Diesel's PostgreSQL and
# MySQL backends link libpq and libmariadb). Debian/Ubuntu; run as root. The default build and
# the tests need none of this.
set -euo pipefail
if dpkg -s libpq-dev libmariadb-dev pkg-config >/dev/null 2>&1; then
  echo "peer dependencies already installed"
  exit 0
fi
apt-get update -q
apt-get install -y -q libpq-dev libmariadb-dev pkg-config
