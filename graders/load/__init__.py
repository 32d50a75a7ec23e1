"""The load phase: a Locust generator in its own process, its user class, the capacity search and SLO scoring."""
