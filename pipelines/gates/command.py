"""Any command run in the verify tree; its exit status decides."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipelines.config import GateSpec
from pipelines.gates import Configured, Finding, GateJob, Report

RUNS_CODE: bool = True  # in the repo's own env
# a command's one verdict is not made of findings the base could already have: always strict
BASELINE: bool = False
CONFIGURED = Configured()  # by its `run:` in repos.yaml, which no patch changes


def version(gate: GateSpec) -> str | None:
    return None


def check(gate: GateSpec, job: GateJob) -> Report:
    assert gate.run is not None  # config refuses a command gate without `run`
    argv = ("sh", "-c", gate.run)
    code, out = job.run(list(argv), gate.timeout)
    log = out.decode(errors="replace")
    if code is None:
        return Report("error", command=argv, summary=f"timed out after {gate.timeout}s", log=log)
    if code == 127:
        return Report("error", command=argv, summary=f"command not found: {gate.run}", log=log)
    if code:
        tail = [line for line in log.strip().splitlines() if line.strip()][-1:] or [""]
        finding = Finding("", None, f"exit-{code}", tail[0][:300])
        return Report("fail", (finding,), argv, f"exited {code}", log)
    return Report("pass", (), argv, "exited 0", log)


if TYPE_CHECKING:  # ty checks this module against the family's interface
    from pipelines.gates import Gate
    from pipelines.gates import command as this

    _: Gate = this
