# assess/grader — runs checks (pytest) and load (Locust) inside the sandbox's network namespace.
# The graders package and the challenge are copied in per run; this image holds only tools.
FROM {python}
RUN pip install --no-cache-dir {pins}
# promtool (the monitoring challenge lints metrics and unit-tests alerting rules with it): taken
# from Debian's prometheus package without installing the server. PyYAML reads rules files.
RUN apt-get update \
 && cd /tmp && apt-get download prometheus \
 && dpkg -x prometheus_*.deb /tmp/prometheus \
 && cp /tmp/prometheus/usr/bin/promtool /usr/local/bin/promtool \
 && rm -rf /tmp/prometheus /tmp/prometheus_*.deb /var/lib/apt/lists/* \
 && promtool --version \
 && pip install --no-cache-dir pyyaml==6.0.2
ENV PYTHONPATH=/assess/lib
WORKDIR /assess
