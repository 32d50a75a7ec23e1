"""Flawed: the inventory call durations are a Summary (the client's cheaper default for a
latency), not the histogram the brief requires: no buckets, so no quantile can be taken from
them across instances. _count and _sum still agree with the calls."""

import prometheus_client
from prometheus_client import Summary

import app

prometheus_client.REGISTRY.unregister(app.INVENTORY_DURATION)
app.INVENTORY_DURATION = Summary(
    "inventory_request_duration_seconds", "Duration of inventory calls.", ["outcome"]
)

if __name__ == "__main__":
    app.main()
