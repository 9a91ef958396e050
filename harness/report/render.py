"""Render a Report to one self-contained HTML file (Jinja2, autoescaped; styles and
the small table script are inlined, nothing is fetched). The templates are read when
this module is imported, so rendering reads no file."""

from __future__ import annotations

import datetime
from pathlib import Path

import jinja2

from .page import Report

TEMPLATES = {path.name: path.read_text(encoding="utf-8")
             for path in (Path(__file__).parent / "templates").iterdir() if path.is_file()}

ENVIRONMENT = jinja2.Environment(
    loader=jinja2.DictLoader(TEMPLATES),
    autoescape=True,  # every value from records (specs, framework messages) is escaped
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(report: Report) -> str:
    """The page's HTML."""
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return ENVIRONMENT.get_template("index.html.j2").render(report=report, generated=generated)


def write(report: Report, output: str | Path) -> Path:
    """Render ``report`` into the file ``output`` (its folder made where missing)."""
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path
