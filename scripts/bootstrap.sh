#!/usr/bin/env bash
# Installs what `make test` and `make run` need on a fresh Debian/Ubuntu machine, and nothing that
# is already there: RabbitMQ and Prometheus (Debian packages), Python >= 3.11, uv, and the locked
# dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=""
apt_install() {
  [ -n "$apt_updated" ] || { as_root apt-get update -qq; apt_updated=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# A local RabbitMQ is needed unless the tests are pointed at one (RABBITMQ_URL) or Docker runs.
if [ -z "${RABBITMQ_URL:-}" ] && [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
  echo "bootstrap: installing rabbitmq-server"
  apt_install rabbitmq-server
  # The package may start a system node; the tests run private nodes and do not need it.
  if command -v systemctl >/dev/null 2>&1; then as_root systemctl disable --now rabbitmq-server >/dev/null 2>&1 || true; fi
fi

# promtool checks and unit-tests the alert rules (tests/unit/monitoring); `make run PROMETHEUS=1`
# runs the same package's server. Debian's package: no download of a release binary.
if ! command -v promtool >/dev/null 2>&1; then
  echo "bootstrap: installing prometheus (for promtool)"
  apt_install prometheus
  # The package may start a system server on :9090; `make run PROMETHEUS=1` runs its own.
  if command -v systemctl >/dev/null 2>&1; then as_root systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
fi

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then PYTHON=$(command -v "$candidate"); break; fi
done
if [ -z "$PYTHON" ]; then
  echo "bootstrap: installing python3"
  apt_install python3 python3-venv python3-pip
  PYTHON=$(command -v python3)
fi

UV=$(command -v uv || true)
if [ -z "$UV" ]; then
  # uv comes from PyPI into a private venv, so the system Python stays untouched (PEP 668).
  if [ ! -x .local/tools/bin/uv ]; then
    echo "bootstrap: installing uv"
    "$PYTHON" -m venv .local/tools 2>/dev/null || { apt_install python3-venv; "$PYTHON" -m venv .local/tools; }
    .local/tools/bin/pip install --quiet --disable-pip-version-check uv
  fi
  UV=.local/tools/bin/uv
fi

"$UV" sync --frozen --python "$PYTHON" --quiet
echo "bootstrap: ready ($("$UV" run --frozen python --version))"
