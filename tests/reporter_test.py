"""What `doit ship` prints as steps run: doit's own Task objects, driven as its runner drives them."""

from __future__ import annotations

import io
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conftest import write_files
from doit.exceptions import TaskFailed, UnmetDependency
from doit.task import Stream, Task

from pipelines import config
from pipelines.config import Workspace
from pipelines.reporter import ShipReporter, duration

ENDED = re.compile(r"^(ok|FAIL|ERROR) +(\S+)  (\d+\.\ds|\d+m\d\ds)$")  # a figure, never a value


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def reporter(out: io.StringIO, workspace: Workspace | None = None) -> ShipReporter:
    return ShipReporter.bound(workspace)(out, {})


def run(report: ShipReporter, name: str, action: Callable[[], Any] = lambda: None) -> Task:
    """One task through the reporter, the calls in doit's runner's order."""
    task = Task(name, [action])
    task.overwrite_verbosity(Stream(None))  # doit's default: stdout captured, stderr shown
    report.execute_task(task)
    failure = task.execute(Stream(None))
    if failure is None:
        report.add_success(task)
    else:
        report.add_failure(task, failure)
    return task


def ended(out: str) -> dict[str, str]:
    return {m[2]: m[1] for m in map(ENDED.match, out.splitlines()) if m}


def test_a_step_that_succeeds_prints_its_start_then_its_outcome_and_duration() -> None:
    out = io.StringIO()
    report = reporter(out)
    run(report, "patch:T-1/lib")
    report.complete_run()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(".  ") and lines[0][3:].strip() == "patch:T-1/lib"  # as doit's
    assert ended(out.getvalue()) == {"patch:T-1/lib": "ok"} and len(lines) == 2


def test_a_failed_step_prints_its_one_line_and_no_empty_output_block() -> None:
    out = io.StringIO()
    report = reporter(out)
    run(report, "gate:T-1/lib/ruff", lambda: TaskFailed("T-1/lib: gate ruff: fail"))
    report.complete_run()
    text = out.getvalue()
    assert ended(text) == {"gate:T-1/lib/ruff": "FAIL"}
    assert "\nT-1/lib: gate ruff: fail\n" in text
    assert "<stdout>" not in text and "<stderr>" not in text and "####" not in text


def test_a_failed_step_that_wrote_something_still_shows_it() -> None:
    out = io.StringIO()
    report = reporter(out)

    def action() -> TaskFailed:
        print("cannot parse app.py")
        return TaskFailed("T-1/app: patch: command exited 2")

    run(report, "patch:T-1/app", action)
    report.complete_run()
    assert "patch:T-1/app <stdout>:\ncannot parse app.py\n" in out.getvalue()


def test_an_exception_in_a_step_is_an_error_with_its_traceback() -> None:
    out = io.StringIO()
    report = reporter(out)
    run(report, "plan:T-1", lambda: 1 / 0)
    report.complete_run()
    assert ended(out.getvalue()) == {"plan:T-1": "ERROR"}
    assert "ZeroDivisionError: division by zero" in out.getvalue().splitlines()


def test_steps_that_do_not_run_say_why_in_a_line_each() -> None:
    out = io.StringIO()
    report = reporter(out)
    report.skip_uptodate(Task("prompt:T-1/lib", [lambda: None]))
    unmet = UnmetDependency("gate:T-1/lib/ruff gate:T-1/lib/pytest")  # as doit's runner words it
    report.add_failure(Task("mr:T-1/lib", [lambda: None]), unmet)
    report.complete_run()
    assert out.getvalue().splitlines() == [
        "--    prompt:T-1/lib",
        "skip  mr:T-1/lib  needs gate:T-1/lib/ruff, gate:T-1/lib/pytest",
    ]


def test_not_a_terminal_gets_plain_lines_only() -> None:
    out = io.StringIO()
    report = reporter(out)
    run(report, "patch:T-1/lib")
    run(report, "gate:T-1/lib/ruff", lambda: TaskFailed("T-1/lib: gate ruff: fail"))
    report.add_failure(Task("mr:T-1/lib", [lambda: None]), UnmetDependency("gate:T-1/lib/ruff"))
    report.skip_uptodate(Task("plan:T-1", [lambda: None]))
    report.complete_run()
    assert "\x1b" not in out.getvalue()


def test_a_terminal_gets_the_same_lines_and_its_stdout_back() -> None:
    out, before = Terminal(), sys.stdout
    report = reporter(out)
    report.initialize({}, [])
    run(report, "patch:T-1/lib")
    run(report, "gate:T-1/lib/ruff", lambda: TaskFailed("T-1/lib: gate ruff: fail"))
    report.complete_run()
    assert sys.stdout is before  # the live view gave it back
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert ended(plain) == {"patch:T-1/lib": "ok", "gate:T-1/lib/ruff": "FAIL"}
    assert "T-1/lib: gate ruff: fail" in plain


def test_tasks_started_in_threads_each_end_with_their_own_duration() -> None:
    out = io.StringIO()
    report = reporter(out)
    tasks = [Task(f"gate:T-1/lib/g{n}", [lambda: None]) for n in range(32)]
    threads = [threading.Thread(target=report.execute_task, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for task in tasks:
        report.add_success(task)
    assert ended(out.getvalue()) == {task.name: "ok" for task in tasks}


def test_durations_read_as_seconds_then_minutes() -> None:
    assert [duration(s) for s in (0.04, 3.21, 59.9, 75, 3600)] == ["0.0s", "3.2s", "59.9s", "1m15s", "60m00s"]


def workspace_with_a_ticket(root: Path, planned: bool) -> Workspace:
    repos = "repos:\n  lib: {url: ../remotes/lib.git, description: the library}\n"
    ticket = '---\nid: T-1\ntitle: Do a thing\nagent: {kind: command, run: "true"}\n---\nBody.\n'
    write_files(root, {"repos.yaml": repos, "tickets/T-1.md": ticket})
    if planned:
        write_files(root, {"state/T-1/plan.json": "{}"})  # only its being there counts here
    return config.load(root)


def test_a_failure_points_at_the_tickets_report_once(tmp_path: Path) -> None:
    out = io.StringIO()
    report = reporter(out, workspace_with_a_ticket(tmp_path, planned=True))
    run(report, "patch:T-1/lib", lambda: TaskFailed("T-1/lib: patch: command exited 2"))
    run(report, "mr:T-1/lib", lambda: TaskFailed("T-1/lib: mr: push refused (see state/T-1/report.md)"))
    lines = out.getvalue().splitlines()
    assert "T-1/lib: patch: command exited 2 (see state/T-1/report.md)" in lines
    assert "T-1/lib: mr: push refused (see state/T-1/report.md)" in lines


def test_no_plan_no_report_to_point_at(tmp_path: Path) -> None:
    out = io.StringIO()
    report = reporter(out, workspace_with_a_ticket(tmp_path, planned=False))
    run(report, "plan:T-1", lambda: TaskFailed("T-1: plan: repo lib: cannot fetch"))
    assert "T-1: plan: repo lib: cannot fetch" in out.getvalue().splitlines()


def test_the_closing_table_fits_the_terminal_and_names_the_branch_once() -> None:
    from pipelines.reporter import table

    why = "failed at gate ty: fail: 1 finding (see state/T-1/billing/gates/ty.log; doit ship again)"
    rows = [
        ("T-1", "billing", why, "+12 -3 in 4 files", "ruff pass, ty fail", "$0.42"),
        ("T-1", "web", "open", "+1 -1 in 1 file", "ruff, pytest: pass", "-"),
        ("T-1", "total", "", "", "", "$0.42"),
    ]
    for width in (80, 120):
        drawn = table([("T-1", "shipyard/T-1-bill-in-the-customers-currency", rows)], width)
        lines = drawn.splitlines()
        assert max(len(line) for line in lines) <= width, drawn
        assert drawn.count("shipyard/T-1-bill-in-the-customers-currency") == 1
        assert "ty.log" in drawn.replace("\n", "").replace("│", "").replace(" ", "")  # folded, not cut


def test_a_table_of_a_thousand_repos_counts_them_and_lists_those_that_need_you() -> None:
    from pipelines.reporter import table

    rows = [("T-1", f"repo{n:04d}", "open", "+1 -1 in 1 file", "ruff: pass", "-") for n in range(1000)]
    rows[7] = ("T-1", "repo0007", "failed at gate ruff: fail: 1 finding", "+1 -1 in 1 file", "ruff fail", "-")
    drawn = table([("T-1", "shipyard/T-1-x", rows)], 100)
    assert "1000 repos: 999 open, 1 failed at gate ruff" in drawn
    assert "repo0007" in drawn and "repo0008" not in drawn


def eventually(condition: Any, seconds: float = 10) -> bool:
    """Whether `condition()` came true within `seconds` (looked at every 10 ms)."""
    end = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def test_the_steps_running_now_are_in_running_json_until_the_run_ends(tmp_path: Path) -> None:
    ws = workspace_with_a_ticket(tmp_path, planned=False)
    report = reporter(io.StringIO(), ws)
    seen: list[Any] = []
    run(report, "patch:T-1/lib", lambda: seen.append(json.loads(ws.paths.running.read_text())))
    assert seen == [{"running": ["patch:T-1/lib"]}]  # the first write is at once
    # the end's write comes WRITE_EVERY after the start's
    assert eventually(lambda: '"running": []' in ws.paths.running.read_text())
    report.complete_run()
    assert not ws.paths.running.exists()


def test_a_thousand_steps_starting_at_once_make_a_few_writes_and_serve_none(
    tmp_path: Path, monkeypatch: Any
) -> None:
    ws = workspace_with_a_ticket(tmp_path, planned=False)
    writes: list[Any] = []
    monkeypatch.setattr("pipelines.reporter.write_json", lambda path, value: writes.append(value))
    out = io.StringIO()
    report = reporter(out, ws)
    serving = Task("serve", [lambda: None])
    report.execute_task(serving)
    for n in range(1000):
        report.execute_task(Task(f"patch:T-1/r{n}", [lambda: None]))
    report.complete_run()
    assert len(writes) <= 3 and "serve" not in writes[0]["running"]
    assert "serve" not in out.getvalue()  # it prints its URL as the first line itself
