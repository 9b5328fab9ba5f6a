"""What the bubblewrap sandbox costs one step: wall time of a trivial and of a small real tool.

    .venv/bin/python benchmarks/sandbox.py [--runs 50]

Times, in this process, `/bin/true` run plainly, then through `pipelines.sandbox.run` in a Box
like a gate's (network off) and like a model agent's (network on), then `ruff check` on one file
plainly and in the gate's Box. Prints the median and p90 of each and the sandbox's extra cost;
asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pipelines import sandbox, tools
from pipelines.sandbox import Box

SOURCE = "import os\n\n\ndef double(x):\n    return 2 * x\n"


def timings(step: Callable[[], object], runs: int) -> list[float]:
    step()  # warm the caches (and sandbox.problem's probe) out of the figures
    found = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        found.append(time.perf_counter() - started)
    return found


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def boxes(root: Path) -> tuple[Box, dict[str, str]]:
    """A gate's Box: its worktree writable, a private HOME, the workspace readable, state/ hidden."""
    tree, admin, workspace = root / "tree", root / "admin", root / "workspace"
    for folder in (tree, admin, workspace / "state"):
        folder.mkdir(parents=True)
    (tree / "mod.py").write_text(SOURCE)
    env = tools.environment(root / "home")
    box = Box(cwd=tree, writable=(admin, root / "home"), readable=(workspace,), hidden=(workspace / "state",))
    return box, env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50, help="timed runs of each step")
    args = parser.parse_args(argv)
    if (why := sandbox.problem()) is not None:
        print(f"no sandbox here: {why}", file=sys.stderr)
        return 1
    ruff = tools.which("ruff")
    with tempfile.TemporaryDirectory(prefix="shipyard-sandbox-bench-") as tmp:
        gate, env = boxes(Path(tmp))
        agent = gate.allow(network=True)
        ruff_argv = [str(ruff), "check", "--no-cache", "--isolated", "--output-format", "json", "mod.py"]

        def plain(argv: list[str]) -> Callable[[], object]:
            return lambda: subprocess.run(argv, cwd=gate.cwd, env=env, capture_output=True)

        def boxed(argv: list[str], box: Box) -> Callable[[], object]:
            return lambda: sandbox.run(argv, box, env, timeout=60)

        steps = [
            ("/bin/true, plain subprocess", plain(["/bin/true"])),
            ("/bin/true, sandbox (gate, no network)", boxed(["/bin/true"], gate)),
            ("/bin/true, sandbox (agent, network)", boxed(["/bin/true"], agent)),
        ]
        if ruff is not None:
            steps += [
                ("ruff check one file, plain", plain(ruff_argv)),
                ("ruff check one file, sandbox (gate)", boxed(ruff_argv, gate)),
            ]
        results = {label: timings(step, args.runs) for label, step in steps}
    print(f"{args.runs} runs each, {sys.platform}, bwrap {sandbox.bwrap()}")
    print(f"{'':<40} {'median ms':>10} {'p90 ms':>10}")
    for label, values in results.items():
        print(f"{label:<40} {statistics.median(values) * 1000:>10.2f} {p90(values) * 1000:>10.2f}")
    pairs = [("/bin/true, plain subprocess", "/bin/true, sandbox (gate, no network)")]
    pairs += [("/bin/true, plain subprocess", "/bin/true, sandbox (agent, network)")]
    pairs += [("ruff check one file, plain", "ruff check one file, sandbox (gate)")] if ruff else []
    for base, boxed_label in pairs:
        extra = statistics.median(results[boxed_label]) - statistics.median(results[base])
        print(f"sandbox cost, median: {extra * 1000:6.2f} ms  ({boxed_label})")
    if ruff is None:
        print("ruff not found: its rows were skipped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
