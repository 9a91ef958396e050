"""Render a Report to one self-contained HTML file (Jinja2, autoescaped;
styles and the small table script are inlined, nothing is fetched)."""

from __future__ import annotations

import datetime
import functools
from pathlib import Path

from .model import Report


@functools.cache
def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,  # every value from records (specs, framework messages) is escaped
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(report: Report) -> str:
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return _environment().get_template("index.html.j2").render(report=report, generated=generated)


def write(report: Report, output: str | Path) -> Path:
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report), encoding="utf-8")
    return path
