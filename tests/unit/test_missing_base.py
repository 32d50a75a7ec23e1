"""Which failed builds are a missing base image (our side) rather than the Dockerfile's fault."""

from __future__ import annotations

from typing import Any

import docker.errors
import pytest

from runner.grading.images import missing_base_image


class _Images:
    def __init__(self, present: set[str]) -> None:
        self.present = present

    def get(self, name: str) -> Any:
        if name not in self.present:
            raise docker.errors.ImageNotFound(name)
        return object()


class _Client:
    def __init__(self, present: set[str]) -> None:
        self.images = _Images(present)


UNREACHABLE = 'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry: no such host'


@pytest.mark.parametrize(
    ("log", "present", "expected"),
    [
        (["Step 1/3 : FROM python:3.12-slim", UNREACHABLE], set(), "python:3.12-slim"),
        (["Step 1/3 : FROM --platform=linux/amd64 x:1 AS b", UNREACHABLE], set(), "x:1"),
        (["Step 1/3 : FROM python:3.12-slim", UNREACHABLE], {"python:3.12-slim"}, ""),
        (["Step 1/3 : FROM nosuch:1", "manifest for nosuch:1 not found"], set(), ""),
        (["Step 1/2 : FROM a:1", "Step 2/2 : RUN curl x", UNREACHABLE], set(), ""),
        ([UNREACHABLE], set(), ""),
    ],
)
def test_only_an_unreachable_registry_at_a_from_step_of_an_absent_image(
    log: list[str], present: set[str], expected: str
) -> None:
    assert missing_base_image(_Client(present), log) == expected
