# assess/python:3.11 — runtime preset for Python submissions (Debian's python3, a venv on PATH).
FROM {base}
# The host's CA bundle, at a path no Debian package owns, so that installing ca-certificates
# cannot drop it: pip then works behind TLS-intercepting proxies.
COPY host-ca.pem /etc/assess/host-ca.pem
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PIP_CERT=/etc/assess/host-ca.pem \
    REQUESTS_CA_BUNDLE=/etc/assess/host-ca.pem \
    SSL_CERT_FILE=/etc/assess/host-ca.pem \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
