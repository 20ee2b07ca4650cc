"""`paywall content import`: Markdown files with YAML front matter, checked before anything
is saved. Problems are reported as `file:line: what is wrong`; a file with any problem saves
nothing, and the other files are imported.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from paywall.content.models import ContentItem
from paywall.content.service import attach, check_fields, save_item
from paywall.errors import ValidationError
from paywall.extensions import db

MAX_FILE_BYTES = 1024 * 1024
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024
ATTACHMENT_TYPES = {".pdf": "application/pdf"}
# Front-matter names that differ from the model's.
RENAMED = {"body": "body_markdown"}


class ImportProblem(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


@dataclass
class Parsed:
    fields: dict[str, Any]
    attachment: Path | None
    lines: dict[str, int] = field(default_factory=dict)


@dataclass
class Report:
    imported: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def expand(paths: list[str]) -> list[Path]:
    """Files named, and the .md files under directories named, in a stable order."""
    found: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found.extend(sorted(path.rglob("*.md")))
        else:
            found.append(path)
    return found


def import_paths(paths: list[str]) -> Report:
    """Check each file, and save those without problems (flushes; the caller commits)."""
    report = Report()
    for path in expand(paths):
        try:
            parsed = parse_file(path)
            with db.session.begin_nested():
                item = save_item(parsed.fields)
                if parsed.attachment is not None:
                    _attach(item, parsed.attachment)
        except ImportProblem as problem:
            report.problems.append(f"{path}:{problem.line}: {problem.message}")
            continue
        report.imported.append(f"{item.kind} {item.slug}")
    return report


def parse_file(path: Path) -> Parsed:
    """Read and check one file; raises ImportProblem with the line at fault."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImportProblem(1, "file is larger than 1 MiB")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImportProblem(0, "no such file") from None
    except UnicodeDecodeError:
        raise ImportProblem(1, "file is not UTF-8 text") from None
    except OSError as error:
        raise ImportProblem(0, f"cannot read: {error.strerror}") from None
    front, body, body_line = _split(text)
    parsed = _front_matter(front)
    parsed.fields.setdefault("body_markdown", body)
    if "body_markdown" in parsed.lines:
        raise ImportProblem(parsed.lines["body_markdown"], "the body goes after the front matter")
    try:
        parsed.fields = check_fields(parsed.fields)
    except ValidationError as error:
        line = parsed.lines.get(
            error.field or "", body_line if error.field == "body_markdown" else 2
        )
        raise ImportProblem(line, error.message) from None
    if parsed.attachment is not None:
        parsed.attachment = _check_attachment(path, parsed)
    return parsed


def _split(text: str) -> tuple[str, str, int]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ImportProblem(1, "the file must start with a '---' line and YAML front matter")
    for number, line in enumerate(lines[1:], start=2):
        if line.strip() == "---":
            return "".join(lines[1 : number - 1]), "".join(lines[number:]), number + 1
    raise ImportProblem(1, "the front matter has no closing '---' line")


def _front_matter(front: str) -> Parsed:
    try:
        node = yaml.compose(front, Loader=yaml.SafeLoader)
        values = yaml.safe_load(front)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        raise ImportProblem(line, f"bad YAML: {getattr(error, 'problem', error)}") from None
    if not isinstance(node, yaml.MappingNode) or not isinstance(values, dict):
        raise ImportProblem(2, "the front matter must be 'name: value' lines")
    lines: dict[str, int] = {}
    for key_node, _ in node.value:
        name = RENAMED.get(str(key_node.value), str(key_node.value))
        if name in lines:
            raise ImportProblem(key_node.start_mark.line + 2, f"{name!r} is given twice")
        lines[name] = key_node.start_mark.line + 2  # +1 for 1-based, +1 for the '---' line
    fields = {RENAMED.get(str(k), str(k)): v for k, v in values.items()}
    attachment = fields.pop("attachment", None)
    lines["attachment"] = lines.get("attachment", 2)
    return Parsed(
        fields=fields, attachment=Path(str(attachment)) if attachment else None, lines=lines
    )


def _check_attachment(path: Path, parsed: Parsed) -> Path:
    line = parsed.lines["attachment"]
    assert parsed.attachment is not None
    if parsed.fields["kind"] != "trend_report":
        raise ImportProblem(line, "only trend reports carry an attachment")
    target = (path.parent / parsed.attachment).resolve()
    if target.suffix.lower() not in ATTACHMENT_TYPES:
        raise ImportProblem(line, "the attachment must be a .pdf file")
    if not target.is_file():
        raise ImportProblem(line, f"attachment {parsed.attachment} not found next to the file")
    if target.stat().st_size > MAX_ATTACHMENT_BYTES:
        raise ImportProblem(line, "the attachment is larger than 20 MiB")
    if not target.read_bytes()[:5] == b"%PDF-":
        raise ImportProblem(line, "the attachment is not a PDF file")
    return target


def _attach(item: ContentItem, path: Path) -> None:
    content_type = ATTACHMENT_TYPES.get(path.suffix.lower()) or (
        mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    attach(item, path.name, content_type, path.read_bytes())
