"""assess: build, sandbox, check, load-test and report on candidates' backend services."""

from __future__ import annotations

__version__ = "0.1.0"
