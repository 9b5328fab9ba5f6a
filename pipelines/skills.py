"""Skills: `skills/<name>/SKILL.md`, written guidance for agents (Agent Skills format)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from pipelines import frontmatter, globs
from pipelines.errors import InputError
from pipelines.yamlfile import validate

# gitignore-style globs (`*.py`, without a slash, matches at any depth), read before `applies_to.paths`
LANGUAGES = {
    "python": ("*.py", "*.pyi"),
    "javascript": ("*.js", "*.mjs", "*.cjs", "*.jsx"),
    "typescript": ("*.ts", "*.tsx"),
    "go": ("*.go",),
    "rust": ("*.rs",),
    "java": ("*.java",),
    "ruby": ("*.rb",),
}


class AppliesTo(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    repos: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    paths: tuple[globs.Glob, ...] = ()  # gitignore-style: `!glob` takes back what came before


class SkillFront(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    description: str
    applies_to: AppliesTo | None = None
    # optional keys of the Agent Skills format, kept as they are
    license: str | None = None
    compatibility: str | None = None
    metadata: dict[str, str] | None = None
    allowed_tools: str | None = None


@dataclass(frozen=True)
class Skill:
    name: str
    description: str
    applies_to: AppliesTo | None
    path: Path  # the SKILL.md

    def files(self) -> list[Path]:
        """Every file of the skill (SKILL.md, references/, evals/): what an agent may read."""
        return sorted(p for p in self.path.parent.rglob("*") if p.is_file())

    def applies(self, repo: str, files: list[str]) -> bool:
        """Whether `applies_to` selects `repo`, whose tracked files are `files`."""
        rule = self.applies_to
        if rule is None:
            return False
        if repo in rule.repos:
            return True
        selected = (*(g for lang in rule.languages for g in LANGUAGES.get(lang, ())), *rule.paths)
        return any(globs.matches(selected, f) for f in files)


def load_all(skills_dir: Path, root: Path) -> dict[str, Skill]:
    skills: dict[str, Skill] = {}
    if not skills_dir.is_dir():
        return skills
    for folder in sorted(p for p in skills_dir.iterdir() if p.is_dir()):
        skills[folder.name] = load(folder / "SKILL.md", root)
    return skills


def load(path: Path, root: Path) -> Skill:
    file = path.relative_to(root).as_posix()
    if not path.is_file():
        raise InputError(file, "", "missing; every folder in skills/ needs a SKILL.md")
    data, lines, _ = frontmatter.parse(path.read_text(), file)
    data = {k.replace("-", "_"): v for k, v in data.items()}
    front = validate(SkillFront, data, file, lines)
    if front.name != path.parent.name:
        raise InputError(
            file,
            "name",
            f"expected {path.parent.name!r} (the folder's name), got {front.name!r}",
            lines.get(("name",)),
        )
    bad = [lang for lang in (front.applies_to.languages if front.applies_to else ()) if lang not in LANGUAGES]
    if bad:
        raise InputError(
            file,
            "applies_to.languages",
            f"unknown language {bad[0]!r}; expected one of: {', '.join(LANGUAGES)}",
            lines.get(("applies_to", "languages")),
        )
    return Skill(front.name, front.description, front.applies_to, path)
