# The pricestream worker and CLI as a container image.
#
#   docker build -t pricestream .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=broker:9092 -p 127.0.0.1:6066:6066 pricestream
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=broker:9092 pricestream topics create
#
# Configuration is the environment only: every variable, with its default, is in
# pricestream/settings.py (SETTINGS_SPEC) and the README. No credentials are baked in; pass them at
# run time. docker-compose.yml runs a broker, the topic creation and the worker together.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# An unprivileged user, and the directory its working files go to (PRICESTREAM_HOME: the worker's
# RocksDB state, the simulator's logs). It exists in the image with this owner so that a volume
# mounted there (docker-compose.yml, the Kubernetes StatefulSet) is writable by the user.
RUN groupadd --system --gid 10001 pricestream \
 && useradd --system --uid 10001 --gid pricestream --create-home --home-dir /home/pricestream \
        --shell /usr/sbin/nologin pricestream \
 && mkdir -p /var/lib/pricestream \
 && chown 10001:10001 /var/lib/pricestream

# Every dependency has a wheel for linux/amd64; on linux/arm64 faust-streaming builds from its
# sdist without its optional C speed-ups, which needs no compiler.
WORKDIR /tmp/pricestream-src
COPY . .
RUN pip install . \
 && rm -rf /tmp/pricestream-src

# The user pricestream, by number so that a platform can verify it is not root (Kubernetes'
# runAsNonRoot cannot check a user name).
USER 10001:10001
WORKDIR /home/pricestream

# Inside a container the status page must listen on every interface to be published.
ENV PRICESTREAM_WEB_HOST=0.0.0.0 \
    PRICESTREAM_WEB_PORT=6066 \
    PRICESTREAM_HOME=/var/lib/pricestream
EXPOSE 6066

# The worker's status page answers once the worker runs. The one-off commands (topics create,
# demo) have no status page: docker-compose.yml turns this check off for them.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/status/' % os.environ.get('PRICESTREAM_WEB_PORT', '6066'), timeout=4)"]

ENTRYPOINT ["pricestream"]
CMD ["worker"]
