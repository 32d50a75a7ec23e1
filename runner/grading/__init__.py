"""Grading one submission: the pipeline (build, pod, grader, watch, verdict) and what it stands on."""
