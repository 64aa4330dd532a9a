# connect-watchdog container image.
#
#   docker build -t connect-watchdog:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#   docker run --read-only --tmpfs /tmp -v watchdog-state:/var/lib/watchdog \
#     -v "$PWD/config.yaml:/etc/watchdog/config.yaml:ro" -v "$PWD/secrets:/etc/watchdog/secrets:ro" \
#     -p 9464:9464 --stop-timeout 60 connect-watchdog:0.1.0
#
# Three stages: `build` downloads every dependency pinned in requirements.lock, each checked against
# its sha256 (pip --require-hashes, binary wheels only: nothing is compiled from an unchecked
# source), and builds the project's own wheel with a build backend pinned and checked the same way
# (build-requirements.lock); `install` installs them into a virtualenv without network access,
# checking the hashes again; and `runtime` copies only that virtualenv onto a clean slim Python:
# no compiler, no wheels, no pip cache, no source tree. `make lock` regenerates the lock files.
#
# No container engine runs in CI, so tests/deploy/test_image.py replays this file instead: it
# runs the two RUN steps marked "replayed by tests/deploy/test_image.py" (hence paths only through
# ARG/ENV variables in them), then starts ENTRYPOINT + CMD with the runtime ENV, as the USER below,
# as PID 1 of its own PID namespace on a read-only root filesystem with only the state volume and
# /tmp writable, runs the HEALTHCHECK command, and stops it with SIGTERM.

# The base image of every stage: the same Python in all three, so the virtualenv built in
# `install` runs unchanged in `runtime` (its interpreter link points at /usr/local/bin/python3).
# Pin it by digest where you build, so that a rebuild cannot silently pick up another image:
#   docker buildx imagetools inspect python:3.11-slim-bookworm    # the index digest, "Digest: sha256:..."
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:<that digest> ...
# The default below is the tag alone because no registry could be reached where this file was
# last changed, so no digest could be verified; docs/reliability.md says so.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG WHEEL_DIR=/wheels
ARG BUILD_VENV=/build-venv
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements.lock build-requirements.lock pyproject.toml README.md ./
COPY watchdog ./watchdog
# The build backend goes into a throwaway virtualenv (never into the base image's Python), so
# that the project's wheel is built without build isolation fetching an unpinned setuptools.
# replayed by tests/deploy/test_image.py
RUN python -m venv "${BUILD_VENV}" \
 && "${BUILD_VENV}/bin/python" -m pip install --no-cache-dir --require-hashes -r build-requirements.lock \
 && "${BUILD_VENV}/bin/python" -m pip download --no-cache-dir --require-hashes --only-binary=:all: \
      --dest "${WHEEL_DIR}" -r requirements.lock \
 && "${BUILD_VENV}/bin/python" -m pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir "${WHEEL_DIR}" . \
 && cp requirements.lock "${WHEEL_DIR}/"

FROM ${PYTHON_IMAGE} AS install
ARG WHEEL_DIR=/wheels
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/watchdog
COPY --from=build ${WHEEL_DIR} ${WHEEL_DIR}
# The virtualenv gets no pip of its own (nothing installs at run time); the base image's pip
# installs into it. --no-index: only the wheels downloaded above, their hashes checked again
# against the lock; then the project's own wheel without resolving anything, and `pip check`
# proves the lock holds every dependency the project declares.
# replayed by tests/deploy/test_image.py
RUN python -m venv --without-pip "${VIRTUAL_ENV}" \
 && python -m pip --python "${VIRTUAL_ENV}/bin/python" install --no-cache-dir --no-index \
      --find-links "${WHEEL_DIR}" --require-hashes -r "${WHEEL_DIR}/requirements.lock" \
 && python -m pip --python "${VIRTUAL_ENV}/bin/python" install --no-cache-dir --no-index --no-deps \
      --find-links "${WHEEL_DIR}" connect-watchdog \
 && python -m pip --python "${VIRTUAL_ENV}/bin/python" check

# The build's identity, for the daemon to report which release runs (`watchdog --version`, the
# `started` line, the `revision` label of watchdog_build_info, /readyz): the REVISION and CREATED
# build arguments, written at the top of the virtualenv, where watchdog/release.py reads them.
# Without them it says `revision unknown`. Its own step, after the install, so that a new
# revision redoes only this one. tests/deploy/test_dockerfile.py and test_image.py check it.
ARG REVISION=unknown
ARG CREATED=unknown
# replayed by tests/deploy/test_image.py
RUN printf 'revision=%s\ncreated=%s\n' "${REVISION}" "${CREATED}" > "${VIRTUAL_ENV}/connect-watchdog.build" \
 && "${VIRTUAL_ENV}/bin/watchdog" --version

FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="connect-watchdog" \
      org.opencontainers.image.description="Keeps Kafka connectors on Confluent Cloud and self-managed Kafka Connect healthy: scheduled and failure-driven restarts through one rate-limit-aware queue, with Prometheus metrics." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="https://github.com/connect-watchdog/connect-watchdog" \
      org.opencontainers.image.url="https://github.com/connect-watchdog/connect-watchdog" \
      org.opencontainers.image.documentation="https://github.com/connect-watchdog/connect-watchdog/blob/main/docs/runbook.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# Every path the daemon uses, in one place. The config file and the secrets directory are
# mounted read-only; the secrets directory is the daemon's default, /etc/watchdog/secrets
# (created below; $WATCHDOG_SECRETS_DIR would move it). The state file lives on the volume at
# /var/lib/watchdog. Temporary files go to TMPDIR, which must be writable too under a read-only
# root (a tmpfs or an emptyDir). The install is read-only and compiled at install time, so
# Python writes no bytecode.
ENV VIRTUAL_ENV=/opt/watchdog \
    PATH=/opt/watchdog/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WATCHDOG_CONFIG=/etc/watchdog/config.yaml \
    WATCHDOG_STATE__PATH=/var/lib/watchdog/state.db \
    TMPDIR=/tmp

# A fixed uid/gid (10001, above any distribution's system range) so volume ownership, the
# Kubernetes securityContext and the compose file can name it. Root owns the install and the
# config directory; the user owns only the state directory.
RUN groupadd --system --gid 10001 watchdog \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/watchdog \
      --shell /usr/sbin/nologin watchdog \
 && mkdir -p /etc/watchdog/secrets /var/lib/watchdog \
 && chown 10001:10001 /var/lib/watchdog \
 && chmod 0750 /var/lib/watchdog

COPY --from=install /opt/watchdog /opt/watchdog
# For reference only: mount your own config at /etc/watchdog/config.yaml.
COPY config.example.yaml /etc/watchdog/config.example.yaml

VOLUME ["/var/lib/watchdog"]
WORKDIR /var/lib/watchdog
USER 10001:10001
EXPOSE 9464

# The daemon is PID 1 and handles SIGTERM itself: it stops its triggers, drains the queue for
# queue.shutdown_deadline (20s by default) and exits 0. It takes SIGTERM (and SIGHUP) from the
# first moment of `watchdog run`, before its modules are imported: one that comes before the
# daemon has started ends it at once, exit 0, nothing sent. Only in the tenth of a second or so
# before that, as for any PID 1 without a handler, the kernel drops SIGTERM. It starts no child
# processes of its own. It does not reap orphans either: a process left behind by `kubectl exec`
# or `docker exec` (a command with `&` in it) is re-parented to PID 1 and stays a zombie until the
# container ends. Run exec commands in the foreground, or use `docker run --init` (Kubernetes:
# `shareProcessNamespace: true`, whose pause container reaps them). Give it time to drain:
# `docker stop -t 60`, compose's stop_grace_period, Kubernetes' terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM

# /healthz answers 200 while the event loop ticks. The slim image has no curl; Python is there.
# It asks port 9464, or $WATCHDOG_SERVER__PORT when set: to move the port, set that variable
# rather than server.port in the YAML file (the variable overrides the file for the daemon too).
# No proxy (ProxyHandler({})): the check runs with the container's environment, and urllib sends
# even 127.0.0.1 through HTTP_PROXY unless NO_PROXY names 127.0.0.1 itself (localhost is not
# enough), so a daemon given a proxy to reach Confluent Cloud was marked unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/healthz' % os.environ.get('WATCHDOG_SERVER__PORT', '9464'), timeout=4)"]

ENTRYPOINT ["watchdog"]
CMD ["run"]
