#!/usr/bin/env bash
# Installs what tests/deploy needs beyond the Python packages, when it is missing:
#
#   prometheus, promtool            Debian package prometheus             (rule checks, live query check)
#   amtool, prometheus-alertmanager Debian package prometheus-alertmanager (Alertmanager config check)
#   unshare, setpriv, nsenter       Debian package util-linux             (image replay: namespaces, non-root)
#   mount                           Debian package mount                  (image replay: read-only root)
#   python3 >= 3.11 with venv, pip  Debian packages python3, python3-venv, python3-pip
#                                   (image replay: the base image's Python, runnable by a non-root user)
#   initdb, pg_ctl, postgres        Debian package postgresql (bench/postgres.py: a real PostgreSQL for
#                                   the shared state store, started by the tests on loopback)
#   pgbouncer                       Debian package pgbouncer (bench/pgbouncer.py: a real PgBouncer in
#                                   front of that PostgreSQL, tests/test_database_pooler.py)
#   nginx, haproxy                  Debian packages nginx, haproxy (tests/e2e/test_real_gateways.py and
#                                   `python -m bench gateways`: real rate-limiting gateways on loopback)
#   jq                              Debian package jq (tests/test_runbook.py: the runbook's jq filters,
#                                   run on the daemon's real output)
#   java (17 or newer), mvn         Debian packages openjdk-17-jre-headless, maven
#                                   (tests/e2e/kafka: a real Kafka broker and Connect workers, whose
#                                   jars Maven fetches on first use, see tests/e2e/kafka/jars.py)
#
# and checks that the virtualenv has the tools that come with the `test` extra of pyproject.toml
# (hadolint, kubectl, kubernetes-validate, the CRD and compose schemas).
#
# Idempotent: installs only what is missing, with apt-get when run as root. Exits non-zero with a
# message naming what is missing when it cannot install it.
#
#   scripts/install-test-tools.sh [VENV]      (VENV: the project's virtualenv, default .venv)
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${1:-.venv}

missing_packages=()
need() {  # need COMMAND PACKAGE: queue PACKAGE when COMMAND is not found
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/bin/$1" ] && [ ! -x "/usr/sbin/$1" ]; then
        missing_packages+=("$2")
    fi
}

need prometheus prometheus
need promtool prometheus
need prometheus-alertmanager prometheus-alertmanager
need amtool prometheus-alertmanager
need unshare util-linux
need setpriv util-linux
need nsenter util-linux
need mount mount
need mvn maven
need nginx nginx
need haproxy haproxy
need jq jq
need pgbouncer pgbouncer
# The server binaries live under /usr/lib/postgresql/VERSION/bin, not on the PATH.
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null 2>&1; then
    missing_packages+=(postgresql)
fi
# Kafka 4.x needs Java 17 or newer: an older java on the PATH is as good as none.
if ! java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])'; then
    missing_packages+=(openjdk-17-jre-headless)
fi
# The image replay needs a system Python that a non-root user may run (the project's own
# interpreter may live under /root): Debian's python3 with venv and pip.
if ! /usr/bin/python3 -c 'import sys, venv, pip; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
    missing_packages+=(python3 python3-venv python3-pip)
fi

if [ ${#missing_packages[@]} -gt 0 ]; then
    # shellcheck disable=SC2207  # package names have no spaces
    packages=($(printf '%s\n' "${missing_packages[@]}" | sort -u))
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "install-test-tools: missing Debian packages: ${packages[*]}" >&2
        echo "install-test-tools: run this script as root on Debian/Ubuntu, or install them yourself:" >&2
        echo "    sudo apt-get install --no-install-recommends ${packages[*]}" >&2
        exit 1
    fi
    echo "install-test-tools: installing ${packages[*]}"
    # Package scripts must not start the Prometheus, Alertmanager or PostgreSQL services: the
    # tests start their own on free loopback ports. policy-rc.d answering 101 forbids starting
    # services.
    temporary_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        temporary_policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' > "$temporary_policy"
        chmod 0755 "$temporary_policy"
        trap 'rm -f "$temporary_policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${packages[@]}"; then
        apt-get update -q
        apt-get install -y -q --no-install-recommends "${packages[@]}"
    fi
fi

# The tools that come as Python wheels with the `test` extra.
missing_wheels=()
for name in hadolint kubectl kubernetes-validate; do
    [ -x "$VENV/bin/$name" ] || missing_wheels+=("$name")
done
for module in cloudcoil.models.prometheus_operator compose_spec kubernetes_validate jsonschema; do
    "$VENV/bin/python" -c "import $module" >/dev/null 2>&1 || missing_wheels+=("python module $module")
done
if [ ${#missing_wheels[@]} -gt 0 ]; then
    echo "install-test-tools: missing from $VENV: ${missing_wheels[*]}" >&2
    echo "install-test-tools: they come with the test extra: $VENV/bin/pip install -e '.[test]'" >&2
    exit 1
fi

echo "install-test-tools: all deploy test tools present"
