# assess/node:18 — runtime preset for Node.js submissions (Debian's nodejs and npm).
FROM {base}
COPY host-ca.pem /etc/assess/host-ca.pem
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_EXTRA_CA_CERTS=/etc/assess/host-ca.pem \
    npm_config_cafile=/etc/assess/host-ca.pem \
    npm_config_update_notifier=false \
    NODE_ENV=production
