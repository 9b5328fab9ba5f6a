"""Each ticket × repo has one honest state, read from the artifacts its steps left."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pipelines import states
from pipelines.paths import Paths

GATES = ("ruff", "ty")


def write(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)


def report(paths: Paths, gate: str, status: str, summary: str = "") -> None:
    data = {"gate": gate, "tool_version": None, "status": status, "summary": summary}
    write(paths.gate_report("T-1", "lib", gate), json.dumps(data))


def mr(paths: Paths, patch: bytes) -> None:
    record = {"ticket": "T-1", "repo": "lib", "base": "b" * 40, "state": "open", "branch": "shipyard/T-1-x",
              "commit": "c" * 40, "patch_sha256": hashlib.sha256(patch).hexdigest()}  # fmt: skip
    write(paths.mr_json("T-1", "lib"), json.dumps(record))


def state(paths: Paths) -> str:
    return str(states.of(paths, "T-1", "lib", GATES))


def test_from_planned_to_landed(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    assert state(paths) == "planned"
    write(paths.patch("T-1", "lib"), b"")
    assert state(paths) == "no change"
    old = b"diff --git a/x b/x\n"
    write(paths.patch("T-1", "lib"), old)
    report(paths, "ruff", "pass")
    assert state(paths) == "planned"  # ty has not judged it yet
    report(paths, "ty", "pass")
    assert state(paths) == "ready"
    mr(paths, old)
    assert state(paths) == "open"
    write(
        paths.step_error("T-1", "lib", "land"), "T-1/lib: land: waiting: checks pending; land again later\n"
    )
    assert state(paths) == "waiting (checks pending; land again later)"
    write(
        paths.repo_dir("T-1", "lib") / "land.json",
        json.dumps({"state": "merged", "commit": "d" * 40, "into": "main"}),
    )
    assert state(paths) == f"landed ({'d' * 12} on main)"


def test_a_new_patch_that_fails_a_gate_makes_the_open_merge_request_outdated(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    first = b"diff --git a/x b/x\n+1\n"
    write(paths.patch("T-1", "lib"), first)
    report(paths, "ruff", "pass")
    report(paths, "ty", "pass")
    mr(paths, first)
    write(paths.patch("T-1", "lib"), b"diff --git a/x b/x\n+2\n")  # the ticket was edited: a new patch
    report(paths, "ty", "fail", "1 finding")
    found = states.of(paths, "T-1", "lib", GATES)
    assert found.word == "outdated"
    assert str(found) == "outdated (it holds an older patch; fail: 1 finding)"
    assert found.cell.startswith("outdated: it holds an older patch")


def test_a_failed_step_names_itself_and_why(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    write(
        paths.step_error("T-1", "lib", "patch"), "T-1/lib: patch: the agent ran out of turns (max_turns 40)\n"
    )
    assert state(paths) == "failed at patch (the agent ran out of turns (max_turns 40))"
    write(paths.patch("T-1", "lib"), b"diff --git a/x b/x\n")
    paths.step_error("T-1", "lib", "patch").unlink()
    report(paths, "ruff", "fail", "2 findings")
    assert state(paths) == "failed at gate ruff (fail: 2 findings)"
