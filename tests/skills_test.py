"""Which repos a skill applies to: its `applies_to` repos, languages and gitignore-style paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import skills
from pipelines.errors import InputError


def skill(**applies_to: list[str]) -> skills.Skill:
    rule = skills.AppliesTo.model_validate(applies_to)
    return skills.Skill("notes", "Notes.", rule, Path("skills/notes/SKILL.md"))


@pytest.mark.parametrize(
    ("applies_to", "files", "applies"),
    [
        ({"paths": ["src/**/*.py"]}, ["src/a.py"], True),
        ({"paths": ["src/**/*.py"]}, ["src/x/a.py"], True),
        ({"paths": ["src/**/*.py"]}, ["other/src/a.py", "src/a.txt"], False),
        ({"paths": ["src/*.py"]}, ["src/a.py"], True),
        ({"paths": ["src/*.py"]}, ["src/x/a.py"], False),
        ({"paths": ["*.py"]}, ["a/b.py"], True),
        ({"paths": ["docs/"]}, ["docs/guide/a.md"], True),
        ({"languages": ["python"]}, ["README.md", "pkg/sub/mod.py"], True),
        ({"languages": ["python"]}, ["README.md", "app.js"], False),
        ({"languages": ["python"], "paths": ["!vendor/**"]}, ["vendor/lib/x.py"], False),
        ({"languages": ["python"], "paths": ["!vendor/**"]}, ["vendor/lib/x.py", "app.py"], True),
        ({"repos": ["app"]}, [], True),
    ],
)
def test_a_skill_applies_by_gitignore_style_globs(applies_to: dict, files: list[str], applies: bool) -> None:
    assert skill(**applies_to).applies("app", files) is applies


def test_a_glob_gitignore_cannot_read_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "skills/notes/SKILL.md"
    path.parent.mkdir(parents=True)
    path.write_text("---\nname: notes\ndescription: Notes.\napplies_to: {paths: ['!']}\n---\nText.\n")
    with pytest.raises(InputError) as err:
        skills.load(path, tmp_path)
    assert str(err.value).startswith(
        "skills/notes/SKILL.md:4: applies_to.paths[0]: expected a gitignore-style glob"
    ), err.value
