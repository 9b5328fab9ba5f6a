"""YAML read with the line of every key, so errors can point at it."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from pipelines.errors import InputError

KeyPath = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str, file: str, first_line: int = 1) -> tuple[Any, dict[KeyPath, int]]:
    """Parse `text` (which starts on `first_line` of `file`): the data, and each key's line."""
    loader = LOADER(text)
    try:  # parsed once (by libyaml where PyYAML has it): the nodes give the lines, then the data
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        line = mark.line + first_line if mark else None
        raise InputError(file, "", f"not valid YAML: {problem}", line) from None
    finally:
        loader.dispose()
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _walk(node, (), lines, file, first_line - 1)
    return data, {path: line + first_line - 1 for path, line in lines.items()}


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], file: str, offset: int) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            at = (*path, key.value)
            if at in lines:  # YAML would keep the last one and lose the first without a word
                first, again = lines[at] + offset, key.start_mark.line + 1 + offset
                raise InputError(file, dotted(at), f"duplicate key (first at line {first})", again)
            lines[at] = key.start_mark.line + 1
            _walk(value, at, lines, file, offset)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, file, offset)


def dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """The line of `path`, or of its nearest ancestor that has one."""
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def validate(model: type[M], data: Any, file: str, lines: Mapping[KeyPath, int], base: KeyPath = ()) -> M:
    """`model.model_validate(data)`, its first error turned into one InputError line."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        errors = err.errors()
        # an unknown key explains a missing one better (`repoz:` for `repos:`): it comes first
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        path = (*base, *(p for p in first["loc"] if not _is_union_tag(p)))
        raise InputError(file, dotted(path), _explain(first, model), line_of(lines, path)) from None


def _is_union_tag(part: Any) -> bool:
    # pydantic puts the member of a union it tried (e.g. 'str', 'GateSpec') into loc
    return isinstance(part, str) and (part[:1].isupper() or part in {"str", "int", "list[str]"})


def _explain(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    kind, got = error["type"], error.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        fields = _fields_at(model, [p for p in error["loc"][:-1] if not _is_union_tag(p)])
        if not fields:
            return "unknown key"
        close = difflib.get_close_matches(str(error["loc"][-1]), fields, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown key; {hint}expected one of: {', '.join(fields)}"
    if kind in ("bool_parsing", "bool_type"):  # `sandbox: of`: say the words YAML reads as one
        return f"expected on or off (or true/false), got {got!r}"
    said = f"{error['msg'][0].lower()}{error['msg'][1:]}, got {got!r}"
    if kind == "string_type" and isinstance(got, int | float | bool):  # YAML read `id: 42` as a number
        return f'{said}; quote it to make it text: "{str(got).lower() if isinstance(got, bool) else got}"'
    return said


def _fields_at(model: Any, loc: list[str | int]) -> list[str]:
    """The keys the model accepts at `loc`, following fields, dict values and list items."""
    current = model
    for part in loc:
        current = _as_model(current) or current
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return []
            current = field.annotation
        else:
            args = get_args(current)
            current = args[-1] if args else None  # dict[str, X] and list[X] -> X
    found = _as_model(current)
    return list(found.model_fields) if found else []


def _as_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    models = [a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    return models[0] if len(models) == 1 and type(None) in get_args(annotation) else None
