# bedrock-reconciler as a long-lived container: `reconciler watch` over a folder of
# manifests (a mounted volume or a git-sync checkout). Usage and the Kubernetes example:
# examples/kubernetes/README.md.
#
# The install is one script, docker/install.sh, which tests/test_container.py also runs in a
# fresh virtual environment: keep every install step in that script, not here.

# Build stage: install the package (no extras: no sandbox emulator, no test tools) in a venv.
FROM python:3.11.14-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY reconciler/ reconciler/
COPY docker/install.sh docker/
RUN bash docker/install.sh /opt/reconciler /src

# Runtime stage: the venv only, run by a non-root user.
FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.title="bedrock-reconciler" \
      org.opencontainers.image.description="Declarative GitOps reconciler for Amazon Bedrock custom models" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 reconciler \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/reconciler \
        --shell /usr/sbin/nologin reconciler
COPY --from=build /opt/reconciler /opt/reconciler

ENV PATH="/opt/reconciler/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

# Numeric, so Kubernetes can enforce runAsNonRoot without knowing the image's users.
USER 10001:10001
WORKDIR /home/reconciler

# /healthz, /readyz and /metrics (--metrics-port in CMD below).
EXPOSE 9090
# No curl in the slim image: Python's urllib fails (exit 1) on a 503 or a refused connection.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9090/healthz', timeout=4)"]

ENTRYPOINT ["reconciler"]
CMD ["watch", "/manifests", "--metrics-port", "9090"]
