"""YAML with line numbers: the parsed data plus the line of every key and list item.

Used to report a problem in a configuration file at the line where the organizer wrote it.
Plain scalars follow YAML 1.2 (see `Yaml12Loader`), and duplicate keys are problems rather than
silently dropped values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

Path = tuple[str | int, ...]
LineMap = dict[tuple[str, ...], int]


def dotted(path: Path) -> str:
    """`('result_codes', 2, 'kind')` -> `'result_codes.2.kind'`."""
    return ".".join(str(part) for part in path)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file: where (line, dotted field) and what."""

    line: int | None
    field: str
    message: str

    def render(self, source: str) -> str:
        """`FILE:LINE: field: message`, the shape compilers and editors understand."""
        where = f"{source}:{self.line}" if self.line else source
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 plain scalars.

    YAML 1.1 reads `no`/`off` as false, `9:00` as the number 540 and `2026-13-01` as a date
    that crashes the parser; here they stay strings and pydantic reports them with their line.
    """


Yaml12Loader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if not tag.endswith(("bool", "int", "float", "timestamp"))
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"),
    list("-+.0123456789"),
)


def parse_yaml(text: str) -> tuple[Any, LineMap, list[ConfigProblem]]:
    """The data, the line of each key and item, and the problems (syntax, duplicate keys)."""
    try:
        loader = Yaml12Loader(text)  # checks the characters first: may raise a ReaderError
    except yaml.YAMLError as exc:
        return None, {}, [_syntax_problem(exc, text)]
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}, []
        lines: LineMap = {}
        problems: list[ConfigProblem] = []
        _walk(node, (), lines, problems, set())
        return loader.construct_document(node), lines, problems
    except yaml.YAMLError as exc:
        return None, {}, [_syntax_problem(exc, text)]
    except ValueError as exc:  # an explicit tag the value does not fit, like `!!int ten`
        return None, {}, [ConfigProblem(None, "", f"YAML value error: {exc}")]
    finally:
        loader.dispose()


def _walk(
    node: yaml.Node,
    path: tuple[str, ...],
    lines: LineMap,
    problems: list[ConfigProblem],
    seen: set[int],
) -> None:
    """Record the line of every key and item under `node`, and flag duplicate keys."""
    if id(node) in seen:  # an alias back into its own anchor
        return
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            line = key_node.start_mark.line + 1
            if key in first_line and key != "<<":
                problems.append(
                    ConfigProblem(
                        line,
                        dotted((*path, key)),
                        f"duplicate key (also on line {first_line[key]})",
                    )
                )
            first_line.setdefault(key, line)
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, problems, seen | {id(node)})
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, str(index)), lines, problems, seen | {id(node)})


def _syntax_problem(exc: yaml.YAMLError, text: str) -> ConfigProblem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        kind = (
            "YAML error"
            if isinstance(exc, yaml.constructor.ConstructorError)
            else "YAML syntax error"
        )
        message = f"{kind}: {exc.problem or exc.context}"
        if exc.problem and exc.context:
            context_line = f" on line {exc.context_mark.line + 1}" if exc.context_mark else ""
            message += f" ({exc.context}{context_line})"
        return ConfigProblem(mark.line + 1 if mark else None, "", message)
    if isinstance(exc, yaml.reader.ReaderError):
        return ConfigProblem(
            text.count("\n", 0, exc.position) + 1, "", f"unreadable text: {exc.reason}"
        )
    return ConfigProblem(None, "", f"YAML error: {exc}")


def line_of(path: Path, lines: LineMap) -> int | None:
    """The line of `path`, or of its closest ancestor written in the file (a missing key)."""
    key = tuple(str(part) for part in path)
    while key and key not in lines:
        key = key[:-1]
    return lines.get(key)
