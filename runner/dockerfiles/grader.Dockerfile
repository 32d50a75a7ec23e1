# assess/grader — runs checks (pytest) and load (Locust) inside the sandbox's network namespace.
# The graders package and the challenge are copied in per run; this image holds only tools.
FROM {python}
RUN pip install --no-cache-dir {pins}
ENV PYTHONPATH=/assess/lib
WORKDIR /assess
