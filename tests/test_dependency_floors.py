"""The dependency floors in pyproject.toml are the versions CI tests against (.ci/lowest-constraints.txt)."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _floors(extra: str | None = None) -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floors = {}
    for requirement in project["optional-dependencies"][extra] if extra else project["dependencies"]:
        match = re.fullmatch(
            r"([A-Za-z0-9_.-]+)(\[[A-Za-z0-9_,.-]+\])?>=([0-9][0-9A-Za-z.]*)", requirement.replace(" ", "")
        )
        assert match, f"{requirement}: every direct dependency needs a floor (name>=version or name[extra]>=version)"
        floors[match[1].lower().replace("_", "-")] = match[3]
    return floors


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / ".ci" / "lowest-constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_ci_tests_exactly_the_declared_floors() -> None:
    floors, pins = _floors(), _pins()
    floors.pop("torch")  # torch is the local CPU wheel (2.13.0) everywhere CI runs; see pyproject.toml
    assert pins.pop("torch") == "2.13.0"
    assert {name: pins.get(name) for name in floors} == floors  # every runtime floor is tested ...
    dev = _floors("dev")
    assert {name: dev.get(name) for name in set(pins) - set(floors)} == {n: pins[n] for n in set(pins) - set(floors)}


def test_what_the_code_needs_is_declared() -> None:
    floors = _floors()
    assert "jinja2" in floors  # huggingface_hub's ModelCard.from_template renders with it
    assert "filelock" in floors  # download locks
    assert tuple(map(int, floors["tokenizers"].split(".")[:2])) >= (0, 20)  # Tokenizer.encode_batch_fast


def test_the_distributed_extra_is_in_dev() -> None:
    # --engine ray's test runs in the main CI run (installed by .[dev]) and skips in the lowest-versions run.
    assert _floors("distributed") == {"ray": _floors("dev")["ray"]}
