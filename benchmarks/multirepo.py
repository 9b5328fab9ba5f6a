"""shipyard against all-repos on one codemod over N local repos: wall time and peak RSS.

    .venv/bin/python benchmarks/multirepo.py [--repos 200 1000] [--keep]

For each N it builds N small repos, each pushed to its own bare remote, then times, each in a
fresh subprocess on its own copy of the remotes: shipyard's `doit ship` (gates off), the no-op
rerun, `doit ship` with the sandbox off (`sandbox: off` in repos.yaml's defaults), `doit ship`
with the ruff gate, and all-repos (`all-repos-clone` + `all-repos-sed`, in a virtualenv cached
under ~/.cache/shipyard-bench/). Peak RSS is the largest sum of the RSS of the measured process
and all its descendants, sampled every 50 ms. Given two counts or more, it ends with their
figures side by side and how much each grew. It prints figures, asserts none.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent
ALL_REPOS = "all-repos==1.33.0"
CACHE = Path.home() / ".cache" / "shipyard-bench"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@localhost",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@localhost",
}
ENV = {**os.environ, **IDENTITY, "GIT_TERMINAL_PROMPT": "0"}
SED = "s/old_api(/new_api(/g"
SHIP_BRANCH = "shipyard/BENCH-1-replace-old-api-with-new-api"
AR_BRANCH = "all-repos_autofix_bench"
SHIPYARD_JOBS = 4
GATES = ["ruff", "ruff-format", "secrets"]  # doit's num_process in shipyard's DOIT_CONFIG
DODO = "from pipelines.tasks import dodo\n\nglobals().update(dodo())\n"
TICKET = f"""---
id: BENCH-1
title: Replace old_api with new_api
agent:
  kind: command
  run: "sed -i '{SED}' $(git ls-files '*.py')"
---
Replace every call to `old_api` with `new_api`. No repo is named: the planner finds them.
"""
TICKET_2 = """---
id: BENCH-2
title: Rename twice to double
agent:
  kind: command
  run: "sed -i 's/twice/double/g' $(git ls-files '*.py')"
---
Rename every `twice` function to `double`.
"""
AR_CONFIG = {"output_dir": "clones", "source": "all_repos.source.json_file", "push": "bench_push"}
# all-repos' own push plugins open pull requests or merge; this one only pushes the branch.
PUSH_PLUGIN = """from __future__ import annotations

import subprocess
from typing import NamedTuple


class Settings(NamedTuple):
    remote: str = "origin"


def push(settings: Settings, branch_name: str) -> None:
    ref = f"HEAD:refs/heads/{branch_name}"
    subprocess.run(("git", "push", "-q", settings.remote, ref), check=True)
"""


class BenchError(Exception):
    """A run failed or left no branch: the figures would mean nothing."""


@dataclass(frozen=True)
class Run:
    wall: float
    rss_mib: float
    output: str


def git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True)
    if proc.returncode:
        raise BenchError(f"git {' '.join(args)} in {cwd} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def repo_files(i: int) -> dict[str, str]:
    """A few Python files; three of them call old_api, one defines it."""
    files = {
        "README.md": f"# repo{i:03d}\n",
        "pkg/__init__.py": "",
        "pkg/api.py": f"def old_api(x):\n    return x * {i + 2}\n",
        "pkg/util.py": f"def clamp(x, lo=0, hi={100 + i}):\n    return max(lo, min(hi, x))\n",
    }
    for k in range(3):
        files[f"pkg/mod{k}.py"] = (
            ("import os  # unused: a finding already on the base\n" if k == 0 else "")
            + f"from pkg import api\n\n\ndef run{k}(x):\n    return api.old_api(x) + {k}\n\n\n"
            f"def twice{k}(x):\n    return api.old_api(api.old_api(x))\n"
        )
    return files


def make_remotes(root: Path, n: int) -> None:
    """N bare remotes root/pristine/repoNNN.git, one commit on main each."""
    for i in range(n):
        src = root / "src" / f"repo{i:03d}"
        for name, text in repo_files(i).items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_text(text)
        git(src, "init", "-q", "-b", "main")
        git(src, "add", "-A")
        git(src, "commit", "-q", "-m", "Initial import")
        git(root, "clone", "-q", "--bare", str(src), str(root / "pristine" / f"{src.name}.git"))
    shutil.rmtree(root / "src")


def copy_remotes(root: Path, dest: str) -> dict[str, Path]:
    shutil.copytree(root / "pristine", root / dest)
    return {p.name.removesuffix(".git"): p for p in sorted((root / dest).iterdir())}


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    with contextlib.suppress(psutil.Error):  # the process may end while we look
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
    return total


def measure(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> Run:
    """Run argv to the end, sampling its process tree's RSS; fail loudly on a non-zero exit."""
    peak = 0
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        while True:
            peak = max(peak, tree_rss(root))
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
                break
    wall = time.monotonic() - started
    output = log.read_text(errors="replace")
    if proc.returncode:
        tail = "\n".join(output.splitlines()[-30:])
        raise BenchError(f"`{' '.join(argv)}` in {cwd} exited {proc.returncode}:\n{tail}")
    return Run(wall, peak / 2**20, output)


def check_branches(remotes: dict[str, Path], branch: str, label: str) -> None:
    ref = f"refs/heads/{branch}"
    missing = [n for n, p in remotes.items() if not git(p, "ls-remote", str(p), ref)]
    if missing:
        raise BenchError(f"{label}: {branch} missing on {len(missing)} remotes: {missing[:5]}")


def shipyard(
    root: Path, name: str, gates: list[str], reruns: int, second: bool = False, sandbox: bool = True
) -> list[Run]:
    """A fresh workspace on fresh remotes: `doit ship`, then `reruns` more `doit ship`; with
    `second`, then a second ticket on the same bases; without `sandbox`, `sandbox: off`."""
    remotes = copy_remotes(root, f"remotes-{name}")
    ws = root / f"ws-{name}"
    (ws / "tickets").mkdir(parents=True)
    (ws / "dodo.py").write_text(DODO)
    (ws / "tickets" / "BENCH-1.md").write_text(TICKET)
    repos = "".join(f"  {n}:\n    url: {p}\n" for n, p in remotes.items())
    off = "" if sandbox else "  sandbox: off\n"
    (ws / "repos.yaml").write_text(
        f"defaults:\n  gates: {json.dumps(gates)}\n  forge: {{kind: local}}\n{off}repos:\n{repos}"
    )
    doit = [str(BIN / "doit"), "ship"]
    runs = [measure(doit, ws, ENV, root / f"{name}-0.log")]
    shipped = json.loads((ws / "state" / "BENCH-1" / "ship.json").read_text())["repos"]
    if sum(r["mr"].get("state") == "open" for r in shipped) != len(remotes):
        raise BenchError(f"shipyard {name}: {len(shipped)} repos planned, not all opened: {ws}")
    agents = [(ws / "state" / "BENCH-1" / n / "agent.json").read_text() for n in remotes]
    unconfined = sum("sandbox: off" in a for a in agents)
    if unconfined != (0 if sandbox else len(remotes)):
        raise BenchError(f"shipyard {name}: {unconfined} repos ran with the sandbox off: {ws}")
    check_branches(remotes, SHIP_BRANCH, f"shipyard {name}")
    runs += [measure(doit, ws, ENV, root / f"{name}-{i + 1}.log") for i in range(reruns)]
    if second:
        (ws / "tickets" / "BENCH-2.md").write_text(TICKET_2)
        runs.append(measure(doit, ws, ENV, root / f"{name}-second.log"))
        if not (ws / "state" / "BENCH-2" / "ship.json").exists():
            raise BenchError(f"shipyard {name}: the second ticket did not ship: {ws}")
    return runs


def gate_bench(n: int, keep: bool) -> None:
    """N repos with the ruff, ruff-format and secrets gates; then a second ticket on the same bases."""
    tmp = tempfile.mkdtemp(prefix=f"shipyard-gates-{n}-")
    root = Path(tmp)
    try:
        make_remotes(root, n)
        (bare,) = shipyard(root, "bare", [], reruns=0)
        gated, second = shipyard(root, "gated", GATES, reruns=0, second=True)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\n== gates {', '.join(GATES)} on {n} repos (each base has one pre-existing ruff finding)")
    print(f"{'':<40} {'wall s':>9} {'peak RSS MiB':>13}")
    print(f"{'ship, gates off':<40} {bare.wall:>9.2f} {bare.rss_mib:>13.1f}")
    print(f"{'ship, 3 gates (baselines computed)':<40} {gated.wall:>9.2f} {gated.rss_mib:>13.1f}")
    print(f"{'second ticket, same bases (cache hits)':<40} {second.wall:>9.2f} {second.rss_mib:>13.1f}")
    per_repo = (gated.wall - bare.wall) / n
    print(f"gate time per repo (3 gates, baselines included): {per_repo * 1000:.0f} ms")


def executed(doit_output: str) -> list[str]:
    """The tasks doit ran (".  name"), not those it found up to date ("-- name")."""
    return [line[3:] for line in doit_output.splitlines() if line.startswith(".  ")]


def all_repos_bin() -> Path:
    venv = CACHE / ALL_REPOS.replace("==", "-")
    if not (venv / "bin" / "all-repos-sed").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
        subprocess.run([*pip, "--disable-pip-version-check", ALL_REPOS], check=True)
    return venv / "bin"


def default_jobs(exe: Path) -> str:
    text = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"-j JOBS.*?\(default `(-?\d+)`\)", text, re.S)
    return found.group(1) if found else "?"


def all_repos(root: Path, bin_dir: Path, jobs: int | None = None) -> tuple[Run, Run]:
    """all-repos-clone + all-repos-sed, with their default job counts or `-j jobs` for sed."""
    label = f"all-repos-j{jobs}" if jobs else "all-repos"
    remotes = copy_remotes(root, f"remotes-{label}")
    work = root / label
    (work / "plugins").mkdir(parents=True)
    (work / "plugins" / "bench_push.py").write_text(PUSH_PLUGIN)
    (work / "remotes.json").write_text(json.dumps({n: str(p) for n, p in remotes.items()}))
    config = work / "all-repos.json"
    source = {"filename": str(work / "remotes.json")}
    config.write_text(json.dumps({**AR_CONFIG, "source_settings": source, "push_settings": {}}))
    config.chmod(0o600)  # all-repos refuses a config others can read
    env = {**ENV, "PYTHONPATH": str(work / "plugins")}
    clone = [str(bin_dir / "all-repos-clone"), "-C", str(config)]
    sed = [str(bin_dir / "all-repos-sed"), "-C", str(config), "--branch-name", "bench"]
    sed += [*(["-j", str(jobs)] if jobs else []), "--commit-msg", "Replace old_api", SED, "*.py"]
    runs = measure(clone, work, env, work / "clone.log"), measure(sed, work, env, work / "sed.log")
    check_branches(remotes, AR_BRANCH, "all-repos")
    return runs


def small(run: Run) -> bool:
    return run.rss_mib <= 300


def row(label: str, run: Run, base: float | None, meets: bool | None) -> str:
    ratio = f"{run.wall / base:.2f}x" if base else "-"
    verdict = "-" if meets is None else ("yes" if meets else "NO")
    return f"{label:<30} {run.wall:>9.2f} {run.rss_mib:>13.1f} {ratio:>12} {verdict:>13}"


def bench(n: int, bin_dir: Path, keep: bool) -> tuple[list[str], dict[str, Run]]:
    """Measure everything for N repos, print the table; return the problems seen and the runs."""
    tmp = tempfile.mkdtemp(prefix=f"shipyard-bench-{n}-")
    root, problems, began = Path(tmp), [], time.monotonic()
    try:
        make_remotes(root, n)
        print(f"\n== {n} repos (built in {time.monotonic() - began:.1f}s under {root})", flush=True)
        ship, noop = shipyard(root, "nogates", [], reruns=1)
        (unboxed,) = shipyard(root, "nosandbox", [], reruns=0, sandbox=False)
        (ruff,) = shipyard(root, "ruff", ["ruff"], reruns=0)
        clone, sed = all_repos(root, bin_dir)
        clone4, sed4 = all_repos(root, bin_dir, jobs=SHIPYARD_JOBS)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    ar = Run(clone.wall + sed.wall, max(clone.rss_mib, sed.rss_mib), "")
    ar4 = Run(clone4.wall + sed4.wall, max(clone4.rss_mib, sed4.rss_mib), "")
    if ran := executed(noop.output):
        problems.append(f"{n} repos: the no-op rerun executed {len(ran)} tasks: {ran[:5]}")
    noop_target = 1.0 if n <= 50 else 1.5
    print(f"{'':<30} {'wall s':>9} {'peak RSS MiB':>13} {'/ all-repos':>12} {'meets target':>13}")
    print(row("shipyard ship (gates off)", ship, ar.wall, ship.wall <= ar.wall and small(ship)))
    print(row("shipyard no-op rerun", noop, None, noop.wall <= noop_target and small(noop)))
    print(row("shipyard ship, sandbox off", unboxed, ar.wall, None))
    print(row("shipyard ship + ruff gate", ruff, ar.wall, small(ruff)))
    print(row("all-repos clone+sed", ar, None, None))
    print(row("  all-repos-clone", clone, None, None))
    print(row("  all-repos-sed", sed, None, None))
    print(row(f"all-repos clone+sed -j{SHIPYARD_JOBS}", ar4, None, None))
    ratio = ship.wall / ar4.wall
    print(f"shipyard ship (gates off) against all-repos with sed -j{SHIPYARD_JOBS}: {ratio:.2f}x")
    extra = (ship.wall - unboxed.wall) / n * 1000
    print(f"sandbox on against off (gates off): {ship.wall / unboxed.wall:.2f}x, {extra:.0f} ms per repo")
    print(
        f"all-repos jobs: clone -j{default_jobs(bin_dir / 'all-repos-clone')}, "
        f"sed -j{default_jobs(bin_dir / 'all-repos-sed')} (their defaults); shipyard: its "
        f"defaults (DOIT_CONFIG: {SHIPYARD_JOBS} threads). No-op rerun executed {len(ran)} tasks."
    )
    print(
        f"targets: ship (gates off) <= 1.0x all-repos; no-op rerun <= {noop_target:.1f} s at {n} "
        f"repos; peak RSS <= 300 MiB. ({n} repos took {time.monotonic() - began:.0f}s in all)"
    )
    return problems, {"ship": ship, "no-op rerun": noop, "ship + ruff gate": ruff, "all-repos": ar}


def scaling(figures: dict[int, dict[str, Run]]) -> None:
    """Each count's figures beside the smallest's: the cost must grow with the repos, not faster
    (target: at most 1.1x the growth in repos, the slack all-repos itself needs)."""
    counts = sorted(figures)
    low = counts[0]
    print(f"\n== scaling: {' and '.join(str(n) for n in counts)} repos side by side")
    print(f"{'':<22}" + "".join(f"{f'{n} repos':>20}" for n in counts) + f"{'growth':>10}{'target':>10}")
    for name in figures[low]:
        for what, unit in (("wall", "s"), ("rss_mib", "MiB")):
            values = [getattr(figures[n][name], what) for n in counts]
            cells = "".join(f"{f'{v:.2f} {unit}':>20}" for v in values)
            growth = values[-1] / values[0] if values[0] else 0.0
            target = f"<= {1.1 * counts[-1] / low:.1f}x" if what == "wall" and name == "ship" else "-"
            label = name + (" RSS" if what == "rss_mib" else "")
            print(f"{label:<22}{cells}{f'{growth:.2f}x':>10}{target:>10}")
    print(f"repos{'':<17}" + "".join(f"{n:>20}" for n in counts) + f"{f'{counts[-1] / low:.2f}x':>10}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, nargs="*", default=[200, 1000], help="repo counts")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    parser.add_argument("--gates", type=int, default=50, help="repo count of the gates run (0: skip)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        bin_dir = all_repos_bin()
        problems, figures = [], {}
        for n in args.repos:
            found, figures[n] = bench(n, bin_dir, args.keep)
            problems += found
        if len(figures) > 1:
            scaling(figures)
        if args.gates:
            gate_bench(args.gates, args.keep)
    except (BenchError, subprocess.CalledProcessError) as err:
        print(f"\n!!! BENCHMARK FAILED !!!\n{err}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"\n!!! {problem}", file=sys.stderr)
    print(f"\ntotal: {time.monotonic() - started:.0f}s")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
