"""The documentation site: it builds offline with warnings as errors, its generated lists
hold what the code holds, and every public name its API reference shows has a docstring."""

import dataclasses
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mkdocs", reason="the docs extra: pip install -e '.[docs]' -c constraints.txt")
griffe = pytest.importorskip("griffe", reason="the docs extra: pip install -e '.[docs]' -c constraints.txt")

import harness  # noqa: E402
from harness import frameworks  # noqa: E402
from harness.backends import REGISTRY  # noqa: E402
from harness.porting import MODEL_HOOKS  # noqa: E402
from harness.records import Record  # noqa: E402
from known_failures import KNOWN_FAILURES  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = (DOCS / "api.md").read_text()
DOCUMENTED = re.findall(r"^::: ([\w.]+)$", API, re.M)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(folder)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300,
                         env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    return folder


def _text(page: Path) -> str:
    return re.sub(r"<[^>]+>", " ", page.read_text())


def test_the_build_is_configured_to_fetch_nothing():
    yaml = pytest.importorskip("yaml", reason="the test extra: pip install -e '.[test]' -c constraints.txt")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["strict"] is True and config["theme"]["font"] is False  # Material's web fonts come from Google
    plugins = [next(iter(p)) if isinstance(p, dict) else p for p in config["plugins"]]
    assert plugins == ["search", "mkdocstrings"]
    assert "inventories" not in str(config["plugins"])  # mkdocstrings would download them


def test_the_site_builds_with_warnings_as_errors_and_loads_nothing_from_the_network(site):
    pages = list(site.rglob("*.html"))
    assert {p.parent.name for p in pages} >= {"getting-started", "bugs", "architecture", "api"}
    fetched = [(p.relative_to(site).as_posix(), url) for p in pages
               for url in re.findall(r"<(?:script|img|link)[^>]*(?:src|href)=\"(https?://[^\"]+)\"", p.read_text())]
    assert fetched == []


def test_the_bugs_page_lists_every_known_failure_and_declared_refusal_and_crash(site):
    adapters = [getattr(importlib.import_module(module), name)
                for module, name in (entry.target.split(":") for entry in REGISTRY.values())]
    declared = {item.name for adapter in adapters
                for item in adapter.refusals + adapter.crashes + adapter.gradient_refusals}
    page = _text(site / "bugs" / "index.html")
    assert declared and [name for name in sorted(declared | {k.name for k in KNOWN_FAILURES})
                         if name not in page] == []


def test_the_architecture_page_lists_every_framework_package_and_porting_hook(site):
    page = (DOCS / "architecture.md").read_text()
    assert [hook for hook in MODEL_HOOKS if not re.search(rf"\| `{hook}\b", page)] == []
    built = _text(site / "architecture" / "index.html")
    assert [name for name in frameworks.PACKAGES if f"harness/frameworks/{name}/" not in built] == []


def test_the_formats_page_names_every_record_field():
    page = (DOCS / "formats.md").read_text()
    assert [f.name for f in dataclasses.fields(Record) if f"`{f.name}`" not in page] == []


def test_every_name_harness_exports_is_in_a_module_of_the_api_reference():
    assert [name for name in harness.__all__ if f"harness.{harness._PUBLIC[name]}" not in DOCUMENTED] == []


def _undocumented(obj, top: bool = True) -> list[str]:
    """``obj`` and the public names under it that the API reference shows, without a docstring."""
    target = obj.final_target if obj.is_alias else obj
    shown = target.kind.value in ("module", "class", "function") or "property" in target.labels
    missing = [obj.path] if shown and not (target.docstring and target.docstring.value.strip()) else []
    if target.kind.value == "class" or (top and target.kind.value == "module"):
        for name, member in target.members.items():
            if name.startswith("_") or (target.kind.value == "module" and not member.is_public):
                continue
            if target.kind.value == "class" and member.is_alias:
                continue
            missing += _undocumented(member, top=False)
    return missing


def test_every_public_name_in_the_api_reference_has_a_docstring():
    package = griffe.load("harness", search_paths=[str(ROOT)], resolve_aliases=True)
    assert DOCUMENTED[0] == "harness" and package.docstring
    missing = [path for identifier in DOCUMENTED[1:]
               for path in _undocumented(package[identifier.removeprefix("harness.")])]
    assert sorted(set(missing)) == []
