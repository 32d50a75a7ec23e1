"""The batch leaderboard: ``OUT/leaderboard.csv``, ``.json`` and a self-contained ``.html``.

One table, ranked by :func:`runner.batch.jobs.rank_key` (graded runs by score, every other verdict
after them): rank, name, verdict, score, correctness, load, each skill's percentage, capacity,
failed critical checks, checks not run, similarity flags and a link to each report. Similar
pairs (``OUT/similarity.json``, written at the end of a batch) are listed under the table with
their matching regions; a pair is shown only while both sides' content is the one compared.

Everything a candidate wrote (error texts, verdict details, matching code) is escaped: the HTML
template autoescapes and has no scripts; CSV cells that a spreadsheet would run as a formula
are quoted.
"""

from __future__ import annotations

import csv
import json
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from runner.batch.jobs import Row, rank_key
from runner.challenges.registry import Challenge
from runner.reports import junit
from runner.reports.html import VERDICT_LABEL, clean_text
from runner.results import Verdict

if TYPE_CHECKING:
    from runner.batch.jobs import OutDir
    from runner.batch.similarity import Pair

TEMPLATES = Path(__file__).resolve().parent.parent / "reports" / "templates"
SIMILARITY_FILE = "similarity.json"
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not evaluate (OWASP: CSV injection)."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def save_pairs(out: Path, pairs: list[Pair], meta: dict[str, Any]) -> None:
    data = {**meta, "pairs": [asdict(p) for p in pairs]}
    (out / SIMILARITY_FILE).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def load_pairs(out: Path, rows: list[Row]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Stored pairs whose two sides are still the content in ``rows`` (by digest)."""
    try:
        data = json.loads((out / SIMILARITY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [], {}
    digests = {r.name: r.digest for r in rows}
    pairs = [
        p
        for p in data.get("pairs", [])
        if digests.get(p["a"]) == p.get("a_digest") and digests.get(p["b"]) == p.get("b_digest")
    ]
    return pairs, {k: v for k, v in data.items() if k != "pairs"}


def flags_by_name(pairs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for i, p in enumerate(pairs):
        for me, other in ((p["a"], p["b"]), (p["b"], p["a"])):
            out.setdefault(me, []).append(
                {"name": other, "similarity": max(p["a_share"], p["b_share"]), "pair": i + 1}
            )
    return out


def entries(rows: list[Row], pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ranked rows as plain dicts, each with its rank and similarity flags."""
    flags = flags_by_name(pairs)
    out = []
    for rank, row in enumerate(sorted(rows, key=rank_key), start=1):
        e = asdict(row)
        e["rank"] = rank
        e["similar"] = sorted(flags.get(row.name, []), key=lambda f: -f["similarity"])
        out.append(e)
    return out


def skill_names(rows: list[Row]) -> list[str]:
    names: list[str] = []
    for r in rows:
        names += [s for s in r.skills if s not in names]
    return names


def write_csv(path: Path, ranked: list[dict[str, Any]], skills: list[str]) -> None:
    cols = ["rank", "name", "verdict", "score", "correctness", "load"]
    cols += [f"skill:{s}" for s in skills]
    cols += ["capacity_rps", "critical_failed", "not_run", "similar_to", "passed", "checks"]
    cols += ["total_s", "worker", "report", "error"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        for e in ranked:
            values = [e["rank"], e["name"], e["verdict"], e["score"], e["correctness"], e["load"]]
            values += [e["skills"].get(s) for s in skills]
            values += [
                e["capacity_rps"],
                ";".join(e["critical_failed"]),
                e["not_run"],
                ";".join(f"{f['name']} ({f['similarity']:.0%})" for f in e["similar"]),
                e["passed"],
                e["checks"],
                e["total_s"],
                e["worker"],
                e["report"],
                e["error"] or e["verdict_detail"],
            ]
            writer.writerow([csv_cell(v) for v in values])


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["clean"] = clean_text
    env.filters["pct"] = lambda v: "-" if v is None else f"{100 * v:.0f}%"
    env.filters["num"] = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
    return env


def render_html(
    challenge: Challenge,
    ranked: list[dict[str, Any]],
    skills: list[str],
    pairs: list[Any],
    meta: Any,
) -> str:
    labels = {v.value: label for v, label in VERDICT_LABEL.items()}
    labels.update({"invalid": "Invalid", "refused": "Refused", "failed": "Not graded (our side)"})
    return (
        _environment()
        .get_template("leaderboard.html.j2")
        .render(
            challenge=challenge,
            rows=ranked,
            skills=skills,
            pairs=pairs,
            meta=meta,
            labels=labels,
            graded=Verdict.GRADED.value,
            generated=time.strftime("%Y-%m-%d %H:%M:%S"),
        )
    )


def write_leaderboard(out: Path, challenge: Challenge, rows: list[Row]) -> list[Path]:
    pairs, meta = load_pairs(out, rows)
    ranked = entries(rows, pairs)
    skills = skill_names(rows)
    paths = [out / "leaderboard.csv", out / "leaderboard.json", out / "leaderboard.html"]
    write_csv(paths[0], ranked, skills)
    doc = {
        "challenge": challenge.id,
        "challenge_version": challenge.config.version,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": ranked,
        "similarity": {**meta, "pairs": pairs},
    }
    paths[1].write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    paths[2].write_text(render_html(challenge, ranked, skills, pairs, meta), encoding="utf-8")
    return paths


def write_junit(
    path: Path, challenge: Challenge, rows: list[Row], outdir: OutDir, fail_under: float | None
) -> None:
    """JUnit XML for CI: each submission's own suite (its checks, SLOs and verdict, as
    ``assess run --junit`` writes it) named ``assess.<challenge>.<name>``, plus one case per
    submission for ``--fail-under``; rows with no results are a suite with one failing case."""

    suites = ET.Element("testsuites", {"name": f"assess batch {challenge.id}"})
    for row in sorted(rows, key=rank_key):
        results = outdir.results(row.name) if row.report else None
        if results is not None:
            root = junit.build(results).getroot()
            found = root.find("testsuite") if root is not None else None
            assert found is not None
            suite = found
            suite.set("name", f"assess.{challenge.id}.{row.name}")
        else:
            suite = ET.Element("testsuite", {"name": f"assess.{challenge.id}.{row.name}"})
            case = ET.SubElement(
                suite, "testcase", {"classname": f"{challenge.id}.run", "name": "verdict"}
            )
            fail = ET.SubElement(
                case, "error", {"message": junit._attr(f"{row.verdict}: {row.error}")}
            )
            fail.text = junit.xml_text(row.error)
        if fail_under is not None:
            case = ET.SubElement(
                suite, "testcase", {"classname": f"{challenge.id}.run", "name": "fail_under"}
            )
            if row.verdict != Verdict.GRADED.value or (row.score or 0) < fail_under:
                ET.SubElement(
                    case,
                    "failure",
                    {"message": f"{row.verdict} {row.score} is below --fail-under {fail_under:g}"},
                )
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
        suite.set("errors", str(sum(c.find("error") is not None for c in cases)))
        suites.append(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
