"""The house rules of the package, read from the sources with ``ast``: the core imports
no framework package, and a framework package imports another only through the names
that package declares public."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from harness import frameworks

HARNESS = Path(__file__).resolve().parents[1] / "harness"


def _framework_modules() -> set[str]:
    """The top-level modules of every framework: what each package's ``BACKENDS`` requires, and
    the import names of its ``DISTRIBUTIONS`` (``tf_keras``, ``jaxlib``), NumPy's excepted (the
    core computes with it)."""
    modules = {module for name in frameworks.PACKAGES
               for fields in frameworks.package(name).BACKENDS.values() for module in fields["requires"].split(",")}
    modules |= set(frameworks.distributions())
    return modules - {"numpy"}


FRAMEWORK_MODULES = _framework_modules()


def _module_name(path: Path) -> str:
    parts = path.relative_to(HARNESS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, tuple[str, ...], int]]:
    """(absolute module, names imported from it, line) for every import in ``path``, wherever it sits."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, (), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.append((module, tuple(alias.name for alias in node.names), node.lineno))
    return found


def _framework_package(module: str) -> str | None:
    """'torch' for harness.frameworks.torch or anything in it, else None."""
    parts = module.split(".")
    return parts[2] if parts[:2] == ["harness", "frameworks"] and len(parts) > 2 and parts[2] in frameworks.PACKAGES \
        else None


CORE = sorted(p for p in HARNESS.rglob("*.py") if "frameworks" not in p.relative_to(HARNESS).parts)
FRAMEWORK_FILES = sorted((HARNESS / "frameworks").rglob("*.py"))


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.relative_to(HARNESS).as_posix())
def test_the_core_imports_no_framework_package(path):
    offending = []
    for module, names, line in _imports(path):
        wanted = [module] + [f"{module}.{name}" for name in names]
        if any(_framework_package(m) for m in wanted):
            offending.append(f"line {line}: {module} {names}")
    assert offending == [], f"{path.name} imports a framework package (the core reaches them by the registry)"


def test_the_framework_modules_are_read_from_the_packages():
    # the frameworks of today, named by hand: a package that stops declaring one fails here
    assert FRAMEWORK_MODULES >= {"torch", "tensorflow", "jax", "jaxlib", "keras", "flax", "tf_keras", "onnx",
                                 "onnxruntime"}


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.relative_to(HARNESS).as_posix())
def test_the_core_modules_import_no_framework(path):
    used = {module.split(".")[0] for module, _, _ in _imports(path)}
    assert used & FRAMEWORK_MODULES == set(), f"{path.name} imports a framework (its package's hooks ask it)"


@pytest.mark.parametrize("path", FRAMEWORK_FILES, ids=lambda p: p.relative_to(HARNESS).as_posix())
def test_a_framework_package_imports_another_only_through_its_public_names(path):
    own = _framework_package(_module_name(path))
    offending = []
    for module, names, line in _imports(path):
        other = _framework_package(module)
        if other is None or other == own:
            continue
        public = frameworks.package(other).PUBLIC
        if module != f"harness.frameworks.{other}" or any(name not in public for name in names):
            offending.append(f"line {line}: from {module} import {', '.join(names)}")
    assert offending == [], f"{path.name} reaches into another framework package's internals"


def test_every_framework_package_declares_its_backends_and_public_names():
    for name in frameworks.PACKAGES:
        package = frameworks.package(name)
        assert package.__doc__, name
        assert isinstance(package.BACKENDS, dict) and isinstance(package.PUBLIC, dict), name
        for attribute, module in package.PUBLIC.items():
            source = (HARNESS / "frameworks" / name / f"{module}.py").read_text()
            tree = ast.parse(source)
            defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
            defined |= {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                        for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                        if isinstance(t, ast.Name)}
            assert attribute in defined, f"{name}.PUBLIC names {attribute}, which {module}.py does not define"


def test_the_porting_hooks_are_all_there_in_every_models_module():
    from harness.porting import MODEL_HOOKS, OPTIONAL_HOOKS, REQUIRED_HOOKS, model_kinds

    kinds = model_kinds()
    assert {kind.NAME for kind in kinds} >= {"torch", "keras", "flax"}
    for kind in kinds:
        assert [hook for hook in REQUIRED_HOOKS if not hasattr(kind.module, hook)] == [], kind.__name__
        assert [hook for hook in MODEL_HOOKS if not hasattr(kind, hook)] == [], kind.__name__
        left_out = [hook for hook in OPTIONAL_HOOKS if not hasattr(kind.module, hook)]
        assert [hook for hook in left_out if getattr(kind, hook) is not OPTIONAL_HOOKS[hook]] == [], kind.__name__
