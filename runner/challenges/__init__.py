"""Challenges as data: the registry, public and private packs, authoring, static scans, solutions, calibration."""
