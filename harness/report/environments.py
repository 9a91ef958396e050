"""Where records come from, as the page names it: one label per environment (framework
versions, settings, CPU, GPU) and the machine it ran on."""

from __future__ import annotations

import collections
import dataclasses
from typing import Iterable

from .. import frameworks
from ..records import Record


@dataclasses.dataclass(frozen=True)
class Environment:
    """One environment of the summary, with how many records came from it."""

    key: str
    label: str
    platform: str
    records: int


def environment_key(env: dict) -> str:
    """The label that tells environments apart: Python, framework versions, kernel settings, CPU and GPU."""
    versions = env.get("versions", {})
    parts = [f"{name} {versions[name]}" for name in frameworks.distributions() if name in versions]
    extra = [f"{k}={v}" for k, v in sorted(env.get("variables", {}).items())]
    cpu = [env["cpu"]["name"]] if env.get("cpu") else []  # one CPU's kernels are not another's
    gpu = [f"{env['device']} {env.get('gpu', {}).get('name', '')}".strip()] if env.get("device") else []
    return ", ".join([f"python {env.get('python', '?')}", *parts, *extra, *cpu, *gpu])


def machine(env: dict) -> str:
    """The platform and, where recorded, the CPU with the instruction sets that choose kernels."""
    cpu = env.get("cpu")
    if not cpu:
        return env.get("platform", "")
    flags = f" ({' '.join(cpu['flags'])})" if cpu.get("flags") else ""
    gpu = env.get("gpu") or {}
    on = f"; on {env.get('device')}: {gpu.get('name', '?')}" + "".join(
        f", {key} {gpu[key]}" for key in ("capability", "cuda", "cudnn") if gpu.get(key)) if env.get("device") else ""
    return f"{env.get('platform', '')}, {cpu['name']}{flags}{on}"


def environments(records: Iterable[Record]) -> tuple[Environment, ...]:
    """Every environment of ``records``, in order of first appearance, each on the machine its first record names."""
    counts: collections.Counter[str] = collections.Counter()
    platforms: dict[str, str] = {}
    for record in records:
        key = environment_key(record.environment)
        counts[key] += 1
        platforms.setdefault(key, machine(record.environment))
    return tuple(Environment(key, key, platforms[key], n) for key, n in counts.items())
