"""`paywall content import`: checked files are imported (updated by slug); bad ones are
reported as file:line: problem, and nothing from a bad file is saved."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from paywall.content.models import Attachment, ContentItem
from paywall.extensions import db

GOOD = """---
kind: memo
slug: gulf-lng-2027
title: Gulf LNG contracts in 2027
access: premium
author: Desk analyst
published_at: 2026-11-20T08:00:00Z
teaser: One paragraph that everyone may read.
---
## What changed

The body, in **Markdown**.
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def run_import(app, *paths: Path):  # type: ignore[no-untyped-def]
    result = app.test_cli_runner().invoke(args=["content", "import", *map(str, paths)])
    db.session.expire_all()
    return result


def count() -> int:
    return int(db.session.scalar(select(func.count(ContentItem.id))) or 0)


def test_a_good_file_is_imported_and_rendered(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_import(app, write(tmp_path, "memo.md", GOOD))
    assert result.exit_code == 0, result.output
    memo = db.session.scalar(select(ContentItem).where(ContentItem.slug == "gulf-lng-2027"))
    assert memo.kind == "memo" and memo.access == "premium" and memo.status == "published"
    assert (
        "<h2>What changed</h2>" in memo.body_html and "<strong>Markdown</strong>" in memo.body_html
    )
    assert memo.published_at.isoformat() == "2026-11-20T08:00:00+00:00"


def test_importing_again_updates_by_slug(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "memo.md", GOOD)
    run_import(app, path)
    write(tmp_path, "memo.md", GOOD.replace("Gulf LNG contracts in 2027", "Revised title"))
    assert run_import(app, path).exit_code == 0
    assert count() == 1
    assert db.session.scalar(select(ContentItem.title)) == "Revised title"


@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (("kind: memo", "kind: podcast"), 2, "kind must be one of"),
        (("access: premium", "access: secret"), 5, "access must be one of"),
        (("slug: gulf-lng-2027", "slug: Gulf LNG"), 3, "slug must be lowercase"),
        (
            ("published_at: 2026-11-20T08:00:00Z", "published_at: next tuesday"),
            7,
            "published_at must be a date",
        ),
        (
            ("published_at: 2026-11-20T08:00:00Z", "published_at: 2026-11-20T08:00:00"),
            7,
            "needs a time zone",
        ),
        (("teaser: One paragraph that everyone may read.\n", ""), 2, "teaser is required"),
        (
            ("author: Desk analyst", "author: Desk analyst\nindustry: oil-gas"),
            7,
            "industry is only for industry newsletters",
        ),
        (
            ("author: Desk analyst", "author: Desk analyst\ncolour: blue"),
            7,
            "unknown field 'colour'",
        ),
        (
            ("author: Desk analyst", "author: Desk analyst\nauthor: Someone"),
            7,
            "'author' is given twice",
        ),
        (("title: Gulf LNG contracts in 2027", "title: [unclosed"), 5, "bad YAML"),
        (("---\nkind", "kind"), 1, "must start with a '---' line"),
        (
            ("author: Desk analyst", "author: Desk analyst\nstarts_at: 2026-12-01T10:00:00Z"),
            7,
            "only for live Q&A and events",
        ),
    ],
)
def test_a_bad_file_is_reported_by_line_and_imports_nothing(
    app, tmp_path, change, line, message
) -> None:  # type: ignore[no-untyped-def]
    path = write(tmp_path, "bad.md", GOOD.replace(*change))
    result = run_import(app, path)
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{path}:{line}: "), first
    assert message in first
    assert count() == 0


def test_good_files_import_even_when_another_is_bad(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = write(tmp_path, "a.md", GOOD)
    bad = write(
        tmp_path, "b.md", GOOD.replace("gulf-lng-2027", "other").replace("kind: memo", "kind: x")
    )
    result = run_import(app, tmp_path)
    assert result.exit_code == 1
    assert "imported memo gulf-lng-2027" in result.stdout and str(bad) in result.stderr
    assert count() == 1 and good.exists()


def test_a_missing_file_is_one_clear_line(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = run_import(app, tmp_path / "nope.md")
    assert result.exit_code == 1 and f"{tmp_path / 'nope.md'}:0: no such file" in result.stderr


def test_a_trend_report_brings_its_pdf(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "figures.pdf").write_bytes(b"%PDF-1.4\nfigures\n%%EOF\n")
    report = GOOD.replace("kind: memo", "kind: trend_report")
    report = report.replace("teaser:", "attachment: figures.pdf\nteaser:")
    assert run_import(app, write(tmp_path, "report.md", report)).exit_code == 0
    files = db.session.scalars(select(Attachment)).all()
    assert [(f.filename, f.content_type, f.size) for f in files] == [
        ("figures.pdf", "application/pdf", 23)
    ]


def test_an_attachment_that_is_not_a_pdf_is_refused(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "figures.pdf").write_bytes(b"<html>not a pdf</html>")
    report = GOOD.replace("kind: memo", "kind: trend_report").replace(
        "teaser:", "attachment: figures.pdf\nteaser:"
    )
    result = run_import(app, write(tmp_path, "report.md", report))
    assert result.exit_code == 1 and ":8: the attachment is not a PDF file" in result.stderr
    assert count() == 0


def test_scripts_in_markdown_are_not_passed_through(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    hostile = (
        GOOD
        + '\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n\n<iframe src="https://evil.test/"></iframe>\n'
    )
    run_import(app, write(tmp_path, "memo.md", hostile))
    html = db.session.scalar(select(ContentItem.body_html))
    assert "<script" not in html and "<iframe" not in html
    assert 'href="javascript' not in html
