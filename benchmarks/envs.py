"""A repo env's cold build and its cache hit: wall time of `envs.ensure` per repo, by real uv.

    .venv/bin/python benchmarks/envs.py [--repos 20]

Makes a folder of wheels (three tiny ones, and pytest's own repacked from this interpreter) that
pip's settings point uv at alone, then N repos (bare remote + mirror) whose requirements.txt
names two of them, each with a tests/ folder (so pytest joins). Times, per repo: the first
`ensure` in a `state/` of its own (so an empty download cache, `state/envs/.uv-cache`), the
second on the same base (the cache hit), then on a second set of N repos the first `ensure` in
one `state/` the set shares, its download cache warmed out of the figures. Prints median, p90
and total of each; asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import statistics
import subprocess
import tempfile
import time
import zipfile
from importlib import metadata
from pathlib import Path
from unittest import mock

from pipelines import envs, git, sandbox

IDENTITY = ["-c", "user.name=Bench", "-c", "user.email=bench@localhost"]
RUNNER = ("pytest", "pluggy", "iniconfig", "packaging", "pygments")
TINY = {"greet": "", "shout": "greet", "loud": ""}  # name: what it requires


def write_wheel(target: Path, info: str, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(target, "w") as whl:
        record = ""
        for path, data in files.items():
            whl.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record += f"{path},sha256={digest},{len(data)}\n"
        whl.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\n")


def make_wheels(folder: Path) -> None:
    """The tiny wheels, and the installed runner's distributions repacked as they are installed."""
    folder.mkdir(parents=True)
    wheel = b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    for name, requires in TINY.items():
        info = f"{name}-1.0.dist-info"
        meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
        meta += f"Requires-Dist: {requires}\n" if requires else ""
        files = {f"{name}.py": b"X = 1\n", f"{info}/METADATA": meta.encode(), f"{info}/WHEEL": wheel}
        write_wheel(folder / f"{name}-1.0-py3-none-any.whl", info, files)
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    for name in RUNNER:
        listed = [f for f in metadata.distribution(name).files or () if "__pycache__" not in str(f)]
        info = next(str(f.parent) for f in listed if f.name == "METADATA" and f.parent.suffix == ".dist-info")
        keep = [f for f in listed if not str(f).startswith("..") and f.name not in skip]
        files = {str(f): Path(f.locate()).read_bytes() for f in keep}
        write_wheel(folder / f"{info.removesuffix('.dist-info')}-py3-none-any.whl", info, files)


def make_repo(root: Path, name: str, i: int) -> tuple[Path, str]:
    """A bare remote holding one commit, and shipyard's mirror of it; the mirror and its base."""
    seed = root / "seeds" / name
    files = {
        "requirements.txt": ("shout\n" if i % 2 else "greet\n") + "loud\n",
        f"{name}.py": f"N = {i}\n",
        "tests/test_it.py": f"import {name}\n\n\ndef test_n():\n    assert {name}.N == {i}\n",
    }
    for path, text in files.items():
        (seed / path).parent.mkdir(parents=True, exist_ok=True)
        (seed / path).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        subprocess.run(["git", *IDENTITY, *args], cwd=seed, check=True)
    remote = root / "remotes" / f"{name}.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(remote)], check=True)
    mirror = root / "state" / "mirrors" / f"{name}.git"
    git.ensure_mirror(mirror, str(remote))
    return mirror, git.rev(mirror, "refs/remotes/origin/main") or ""


def timed(state: Path, mirror: Path, name: str, base: str, sandboxed: bool) -> float:
    started = time.perf_counter()
    envs.ensure(state, mirror, name, base, "auto", sandboxed=sandboxed)
    return time.perf_counter() - started


def row(label: str, values: list[float]) -> str:
    p90 = statistics.quantiles(values, n=10, method="inclusive")[-1]
    return f"{label:<42} {statistics.median(values):>9.3f} {p90:>9.3f} {sum(values):>9.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=20, help="repos in each set")
    args = parser.parse_args(argv)
    sandboxed = sandbox.problem() is None
    with tempfile.TemporaryDirectory(prefix="shipyard-envs-") as tmp, mock.patch.dict(os.environ):
        root, state = Path(tmp), Path(tmp) / "state"
        make_wheels(root / "wheels")
        for name in [n for n in os.environ if n.startswith(("PIP_", "UV_"))]:
            del os.environ[name]
        os.environ.update(PIP_FIND_LINKS=str(root / "wheels"), PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull)
        own = [make_repo(root, f"own{i:03d}", i) for i in range(args.repos)]
        shared = [make_repo(root, f"shared{i:03d}", i) for i in range(args.repos)]
        alone = [root / "states" / str(i) for i in range(args.repos)]  # empty caches: a first build anywhere
        cold = [timed(alone[i], m, f"own{i:03d}", b, sandboxed) for i, (m, b) in enumerate(own)]
        warm = [timed(alone[i], m, f"own{i:03d}", b, sandboxed) for i, (m, b) in enumerate(own)]
        mirror, base = make_repo(root, "warmup", 1)  # shout pulls greet: every wheel, out of the figures
        timed(state, mirror, "warmup", base, sandboxed)
        hot = [timed(state, m, f"shared{i:03d}", b, sandboxed) for i, (m, b) in enumerate(shared)]
    print(f"{args.repos} repos per set, sandbox {'on' if sandboxed else 'off: ' + str(sandbox.problem())}")
    print(f"{'envs.ensure per repo (seconds)':<42} {'median':>9} {'p90':>9} {'total':>9}")
    print(row("cold build, empty download cache", cold))
    print(row("warm: second call, same base (hit)", warm))
    print(row("cold build, shared warm download cache", hot))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
