"""MkDocs hooks: the lists the code already holds are written into the pages at build time,
so they cannot drift from it. A page asks for one with a marker line, ``<!-- generated: NAME -->``:
the framework bugs of ``tests/known_failures.py``, the crashes and refusals the adapters declare,
and the framework packages with the backends they register. Nothing here imports a framework."""

from __future__ import annotations

import html
import importlib
import importlib.util
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARKER = re.compile(r"^<!-- generated: ([\w-]+) -->$", re.M)


def _known_failures():
    """``tests/known_failures.py`` as a module (the tests folder is no package)."""
    spec = importlib.util.spec_from_file_location("_docs_known_failures", ROOT / "tests" / "known_failures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _adapters() -> dict[str, type]:
    """Every registered backend's adapter class, installed or not (no adapter imports its
    framework at import): backend name -> class."""
    from harness.backends import REGISTRY

    return {name: getattr(importlib.import_module(module), cls)
            for name, entry in REGISTRY.items() for module, cls in [entry.target.split(":")]}


def _text(text: str) -> str:
    """Plain text (a declared reason) as Markdown that shows it as written."""
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", html.escape(text, quote=False))


def _example(fields: dict) -> str:
    from harness.spec import ConvSpec

    return f"`{ConvSpec.from_dict(fields).describe()}`"


def _declared(attribute: str) -> list[tuple[object, list[str]]]:
    """Each declaration of ``attribute`` (refusals, crashes, ...) once, with the backends that declare it."""
    found: dict[int, tuple[object, list[str]]] = {}
    for backend, adapter in _adapters().items():
        for item in getattr(adapter, attribute):
            found.setdefault(id(item), (item, []))[1].append(backend)
    return list(found.values())


def _shows(declared) -> str:
    """Where a declaration's ``present`` says it shows: a probe of the machine, or everywhere (the default)."""
    return "everywhere" if declared.present is type(declared).present else "where its probe finds that code path"


def _backends(names) -> str:
    return ", ".join(f"`{name}`" for name in names)


def known_failures() -> str:
    entries = _known_failures().KNOWN_FAILURES
    return "\n\n".join(f"### `{entry.name}`\n\n**Backends:** {_backends(entry.backends)}. "
                       f"**Shows:** {_shows(entry)}. **Breaks:** "
                       f"{'the output' if entry.quantity == 'y' else 'the gradient ' + entry.quantity}. "
                       f"**Example:** {_example(entry.example)}.\n\n{_text(entry.reason)}" for entry in entries)


def declared_crashes() -> str:
    return "\n\n".join(f"### `{crash.name}`\n\n**Backends:** {_backends(backends)}. "
                       f"**Example:** {_example(crash.example)}.\n\n{_text(crash.reason)}"
                       for crash, backends in _declared("crashes"))


def _refusal_table(attribute: str) -> str:
    rows = [f"| `{refusal.name}` | {_backends(backends)} | {_text(refusal.reason)} | "
            f"{_shows(refusal)} | "
            f"{_example(refusal.example)} |"
            for refusal, backends in _declared(attribute)]
    return "\n".join(["| refusal | backends | reason | shows | example |", "| --- | --- | --- | --- | --- |", *rows])


def declared_refusals() -> str:
    return _refusal_table("refusals")


def gradient_refusals() -> str:
    return _refusal_table("gradient_refusals")


def framework_packages() -> str:
    from harness.backends import REGISTRY

    rows = [f"| `{module.rpartition('.')[0].replace('.', '/')}/` | `{backend}` | `{cls}` | `{entry.requires}` | "
            f"{f'`{entry.extra}`' if entry.extra else '-'} | {'yes' if entry.default else 'when named'} |"
            for backend, entry in REGISTRY.items() for module, cls in [entry.target.split(":")]]
    return "\n".join(["| package | backend | adapter class | requires | extra | runs by default |",
                      "| --- | --- | --- | --- | --- | --- |", *rows])


GENERATED = {function.__name__.replace("_", "-"): function for function in (
    known_failures, declared_crashes, declared_refusals, gradient_refusals, framework_packages)}


def on_config(config):
    # the checkout these docs sit in, whatever harness the environment has installed
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return config


def on_page_markdown(markdown: str, page, config, files) -> str:
    def generate(match: re.Match) -> str:
        try:
            return GENERATED[match[1]]()
        except KeyError:
            raise ValueError(f"{page.file.src_uri}: no generated list {match[1]!r}; "
                             f"choose from {', '.join(GENERATED)}") from None

    return MARKER.sub(generate, markdown)
