"""The convharness command line: parses arguments and delegates.

Bad input (a spec, a file, a backend name, an option) is reported on one
line naming the field and the rule, with exit status 2; what the modules
raise while they run is not input and propagates. Each command imports what
it runs: --help, --version and bad options import no numeric library.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
from pathlib import Path

from .backends import available_backends, resolve_backends
from .spec import ConvSpec

ISOLATE_HELP = ("run every backend in a child process, so a framework that kills its process is an error row "
                "(by default only a backend that declares a crash on the spec runs in one)")
EXACT_HELP = "small integer data and zero tolerance: every backend must equal the reference exactly"
GRAD_HELP = ("also check each backend's gradients dx, dw and db (with a bias) by its own autodiff at a seeded "
             "cotangent dy, against the float64 reference_vjp under their bounds")


class UsageError(Exception):
    """Bad input from the command line: reported on one line, exit status 2."""


@contextlib.contextmanager
def given_input():
    """What is read inside is the user's input: a ValueError there (the modules
    name the field and the rule) is a usage error."""
    try:
        yield
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def parse_spec(text: str, overrides: list[str]) -> ConvSpec:
    """A spec from a JSON file or string, with key=value overrides applied."""
    if not text.lstrip().startswith("{"):
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"spec: no such file {text} (give a JSON file, or a JSON object in quotes)")
        text = path.read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"spec: not a JSON object ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    if not isinstance(data, dict):
        raise UsageError("spec: must be a JSON object with the ConvSpec fields")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"{item}: overrides are key=value, e.g. stride=2")
        try:
            data[key] = json.loads(value)
        except json.JSONDecodeError:
            data[key] = value
    with given_input():
        return ConvSpec.from_dict(data)


def _backends(value: str | None) -> tuple[str, ...]:
    """--backends checked before anything runs: known names whose framework is installed."""
    with given_input():
        return resolve_backends(None if value is None else [v.strip() for v in value.split(",") if v.strip()])


def _positive(name: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name}={text}: must be an integer >= 1")
        return value

    return parse


def _shape(text: str) -> tuple[int, ...]:
    """--input-shape: positive integers separated by commas or x (1,3,224,224 or 1x3x224x224)."""
    parts = re.split(r"[,x]", text)
    if not all(part.strip().isdecimal() and int(part) >= 1 for part in parts):
        raise argparse.ArgumentTypeError(f"input-shape={text!r}: every part must be a positive integer, "
                                         "like 1,3,224,224")
    return tuple(int(part) for part in parts)


def _device(text: str):
    from .devices import Device

    try:
        return Device.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


DEVICE_HELP = ("cpu (default), cuda or cuda:N: where the frameworks compute; on CUDA, float32 cases run as each "
               "framework's default (TF32 where it is) and forced to float32 ([float32])")


def parse_shard(text: str) -> tuple[int, int]:
    """--shard 'i/n' with 1 <= i <= n, e.g. '2/4' is the second of four shards."""
    index, sep, count = text.partition("/")
    if not (sep and index.isdecimal() and count.isdecimal() and 1 <= int(index) <= int(count)):
        raise argparse.ArgumentTypeError(f"shard={text!r}: must be i/n with 1 <= i <= n, e.g. 1/4")
    return int(index), int(count)


class Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """One line, as every other bad input: the option's own message where it names its field."""
        message = re.sub(r"^argument [^:]+: (?=[\w-]+=)", "", message)
        self.exit(2, f"{self.prog}: error: {message}\n")


def cmd_examples(args) -> int:
    from . import table
    from .check import check
    from .worked_examples import worked_examples

    failed = False
    for example in worked_examples():
        result = check(example.spec, backends=args.backends,
                       inputs=(example.x, example.w, None))
        print(f"\n{example.name}\n  {example.spec.describe()}")
        print(table.outcomes(result))
        failed |= not result.ok
    return 1 if failed else 0


def cmd_check(args) -> int:
    spec = parse_spec(args.spec, args.overrides)
    if args.identity:
        return _check_identity(spec, args)
    from . import table
    from .check import check

    if args.exact:
        from .inputs import exact_magnitude

        if args.grad:
            raise UsageError("grad: gradients are checked on the seed's data under their bounds; drop --exact")
        with given_input():
            exact_magnitude(spec)
    result = check(spec, seed=args.seed, backends=args.backends, exact=args.exact, device=args.device,
                   isolate=args.isolate or None, grad=args.grad)
    print(spec.describe() + ("  [exact: integer data, zero tolerance]" if args.exact else "")
          + ("  [with gradients at the seed's cotangent dy]" if args.grad else "")
          + (f"  [on {args.device}]" if args.device.accelerator else ""))
    print(table.outcomes(result))
    if args.records:
        from .records import Record, RecordWriter, environment

        env = environment(args.device)
        with RecordWriter(args.records) as writer:
            writer.write(Record.of(0, result, outcome, env) for outcome in result.outcomes)
    return 0 if result.ok else 1


def _check_identity(spec: ConvSpec, args) -> int:
    """Both sides of one identity in each backend, on the data of the seed."""
    from . import table
    from .identities import BY_NAME, check_identity
    from .inputs import make_cotangent, make_inputs

    if args.identity not in BY_NAME:
        raise UsageError(f"identity={args.identity!r}: unknown; choose from {', '.join(BY_NAME)}")
    identity = BY_NAME[args.identity]
    if not identity.applies(spec):
        raise UsageError(f"identity={args.identity!r}: does not apply to this spec ({spec.describe()})")
    if args.records or args.exact or args.device.accelerator:
        raise UsageError("identity: checks the seed's data on the CPU only and writes no records "
                         "(drop --records, --exact, --device)")
    x, w, b = make_inputs(spec, args.seed)
    dy = make_cotangent(spec, args.seed) if identity.gradient else None
    outcomes = [check_identity(identity, name, spec, x, w, b, dy) for name in args.backends]
    print(f"{spec.describe()}\nidentity {identity.name}, seed {args.seed}")
    print(table.identity_outcomes(outcomes))
    return 1 if any(o.status.failing for o in outcomes) else 0


def cmd_sweep(args) -> int:
    from .sweep import (Summary, WorkerStartError, declared_crash_cases, exact_cases, generate_cases, run_sweep,
                        select_shard)

    print(f"sweep: drawing {args.examples} cases (seed {args.seed})", file=sys.stderr, flush=True)
    try:
        cases = select_shard(generate_cases(args.examples, args.seed), args.shard)
    except KeyboardInterrupt:  # Ctrl-C while the cases are drawn ends as it does once they run
        return _interrupted(Summary(interrupted=True), args.examples, args.records)
    if args.declared_crashes and args.shard[0] == 1:  # once, in the first shard
        cases += list(enumerate(declared_crash_cases(args.backends), start=args.examples))
    left_out = ""
    if args.exact and args.grad:
        raise UsageError("grad: gradients are checked on the seed's data under their bounds; drop --exact")
    if args.exact:
        cases, dropped = exact_cases(cases)
        left_out = f", exact: {dropped} cases left out (their dtype cannot hold the sums exactly)"
    print(f"sweep: {len(cases)} cases (seed {args.seed}, shard {args.shard[0]}/{args.shard[1]}{left_out}), "
          f"backends {', '.join(args.backends)}, records {args.records or 'not written'}", file=sys.stderr)
    try:
        summary = run_sweep(cases, backends=args.backends, records=args.records, jobs=args.jobs,
                            progress=not args.quiet, exact=args.exact, isolate=args.isolate or None,
                            device=args.device, grad=args.grad)
    except WorkerStartError as exc:
        print(f"convharness sweep: error: {exc}", file=sys.stderr)
        return 1
    if summary.interrupted:
        return _interrupted(summary, len(cases), args.records)
    print(summary.line())
    return 1 if summary.failed else 0


def _interrupted(summary, total: int, records: str | None) -> int:
    """The end of a sweep stopped by Ctrl-C: its summary, what finished and where it is kept; exit 130."""
    print(summary.line())
    kept = f"; their records are in {records}" if records else ""
    print(f"convharness sweep: interrupted: {summary.cases} of {total} cases finished{kept}", file=sys.stderr)
    return 130


def cmd_report(args) -> int:
    from .report import build_report, load_records, split_comparisons

    with given_input():
        comparisons, record_paths = split_comparisons(args.records)
        loaded = load_records(record_paths) if record_paths or not comparisons else ([], 0)
    report = build_report(args.records, args.output, loaded=loaded)
    skipped = f", skipped {report.skipped_lines} unreadable lines" if report.skipped_lines else ""
    compared = f", {len(report.comparisons)} comparisons" if report.comparisons else ""
    print(f"report: {report.cases} cases, {len(report.failures)} failures, {len(report.refusals)} kinds of refusal, "
          f"{len(report.environments)} environments{compared}{skipped} -> {args.output}")
    return 0


def cmd_explain(args) -> int:
    spec = parse_spec(args.spec, args.overrides)
    from .explain import explain

    explanation = explain(spec, seed=args.seed, backends=args.backends, device=args.device,
                          isolate=args.isolate or None)
    print(explanation.text())
    return 0 if explanation.result.ok else 1


MODEL_RAISED = 3  # exit status of port and compare when a model raised while it ran (1 is "the port differs")


class ModelFailed(Exception):
    """A user's model raised while it ran: its own traceback and one line, exit status ``MODEL_RAISED``."""


@contextlib.contextmanager
def running_models(args, roles: dict[str, str]):
    """Inside, the user's models are built and run: a model that raises is ``ModelFailed`` (its own
    traceback, "while running SOURCE (module:callable)"), or where --input-shape gave its input, a
    usage error saying which shape each model was given after layout conversion."""
    from .porting import ModelRaised

    try:
        with given_input():
            yield
    except ModelRaised as exc:
        named = str(exc).replace(f"running {exc.role}", f"running {exc.role} ({roles.get(exc.role, '')})", 1)
        if args.input_shape is not None and exc.shape is not None:
            shape = ",".join(map(str, args.input_shape))
            given = "" if exc.role == "SOURCE" or exc.shape == args.input_shape else \
                f" (converted to its layout; SOURCE was given {args.input_shape})"
            raise UsageError(f"input-shape={shape}: {exc.role} was given {exc.shape}{given} and raised "
                             f"{exc.what}") from None
        print(exc.own_traceback(), file=sys.stderr, end="")
        raise ModelFailed(named) from None


def _build(find: str, role: str, input_shape=None):
    """``(model, example)`` from the ``module:callable`` ``find``, its builder run as the user's code."""
    from .porting import running
    from .targets import build_target, find_target

    build = find_target(find)
    with running(role, None):
        return build_target(build, input_shape)


def cmd_port(args) -> int:
    from .frameworks import loading_models
    from . import table
    from .porting import CannotRunHere, check_model, scan, write_records

    with running_models(args, {"model": args.target}):
        with loading_models():
            model, example = _build(args.target, "model", args.input_shape)
        try:
            scanned = scan(model, example, name=args.name)
        except CannotRunHere as exc:  # the model needs a kernel this machine's framework lacks
            raise UsageError(str(exc)) from None
    total = len(scanned.layers)

    def progress(index, layer):
        print(f"[{index + 1}/{total}] {layer.name}", file=sys.stderr, flush=True)

    results = check_model(scanned, args.backends, progress=None if args.quiet else progress, device=args.device,
                          isolate=args.isolate or None)
    print(table.layers(scanned.name, results))
    if args.records:
        write_records(args.records, scanned, results)
    failed = [r.layer.name for r in results if not r.ok]
    print(f"{len(results)} layers: {len(results) - len(failed)} agree"
          + (f", {len(failed)} disagree: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def cmd_compare(args) -> int:
    from .frameworks import loading_models
    from . import table
    from .porting.model_comparison import compare_models

    with running_models(args, {"SOURCE": args.source, "TARGET": args.target}):
        with loading_models():
            source, example = _build(args.source, "SOURCE", args.input_shape)
            target, _ = _build(args.target, "TARGET")
        if example is None:
            raise UsageError("example: the source needs an example input (return (model, input) or pass "
                             "--input-shape)")
        with given_input() if args.grad else contextlib.nullcontext():  # --grad on a model it cannot differentiate
            result = compare_models(source, target, example, target_layout=args.target_layout, grad=args.grad)
    print(table.comparison(result))
    if args.records:
        from .porting import check_model, write_records

        write_records(args.records, result.target_scan,
                      check_model(result.target_scan, args.backends, device=args.device))
    if args.json:
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=1) + "\n")
    return 0 if result.agree and result.first_gradient_divergence is None else 1


def cmd_diagnose(args) -> int:
    spec = parse_spec(args.spec, args.overrides)
    from .diagnosis import diagnose, validate_observed
    from .inputs import load_array, load_inputs, validate_inputs

    with given_input():
        x, w, b = load_inputs(args.inputs)
        observed = validate_observed(spec, load_array(args.observed))
        validate_inputs(spec, x, w, b)
    print(spec.describe())
    result = diagnose(spec, x, w, b, observed)
    print(result.text())
    return 0 if result.correct else 1


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("convharness")
    except PackageNotFoundError:
        return "(not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="convharness",
        description=("Check one convolution spec in PyTorch, TensorFlow, Keras 3, JAX and Flax against a float64 "
                     "reference."),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    try:
        installed, layers = available_backends(), available_backends(layers=True)
    except ValueError:  # a malformed CONVHARNESS_BACKENDS, reported on one line where a command resolves backends
        installed, layers = (), ()
    backends_help = (f"comma-separated backends (default: the installed ones: {', '.join(installed)}"
                     + (f"; layer backends run when named: {', '.join(layers)})" if layers else ")"))

    examples = sub.add_parser("examples", help="check the worked examples from the TensorFlow docs discussion")
    examples.add_argument("--backends", help=backends_help)
    examples.set_defaults(func=cmd_examples)

    def backends_and_device(command):
        command.add_argument("--backends", help=backends_help)
        command.add_argument("--device", type=_device, default="cpu", help=DEVICE_HELP)

    def spec_arguments(command, seed: bool = True):
        """The spec, its overrides, and (where data are drawn) --seed, --backends and --device."""
        command.add_argument("spec", help="a JSON file or JSON string in the form ConvSpec.to_dict() writes")
        command.add_argument("overrides", nargs="*", help="key=value overrides, e.g. stride=2 dtype=float64")
        if seed:
            command.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
            backends_and_device(command)

    def records_and_exact(command, per: str):
        command.add_argument("--records", help=f"append one JSON line per {per} to this file (for `report`)")
        command.add_argument("--exact", action="store_true", help=EXACT_HELP)

    one = sub.add_parser("check", help="check one spec in every backend and print a table")
    spec_arguments(one)
    records_and_exact(one, "backend")
    one.add_argument("--identity", metavar="NAME",
                     help="run both sides of this metamorphic identity in each backend instead "
                          "(as a failing property test prints it)")
    one.add_argument("--isolate", action="store_true", help=ISOLATE_HELP)
    one.add_argument("--grad", action="store_true", help=GRAD_HELP)
    one.set_defaults(func=cmd_check)

    sweep = sub.add_parser("sweep", help="check generated cases outside pytest; exit 1 on any mismatch or error")
    sweep.add_argument("--examples", type=_positive("examples"), default=200,
                       help="number of generated cases (default 200)")
    sweep.add_argument("--seed", type=int, default=0, help="generation seed, the same cases for the same seed")
    backends_and_device(sweep)
    records_and_exact(sweep, "case and backend")
    sweep.add_argument("--jobs", type=_positive("jobs"), default=1, help="worker processes (default 1)")
    sweep.add_argument("--shard", type=parse_shard, default=(1, 1), help="run shard i of n, e.g. 2/4 (default 1/1)")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.add_argument("--isolate", action="store_true",
                       help="run cases in a worker process even with --jobs 1, so a framework crash "
                            "becomes an error record (always so with --jobs 2 or more)")
    sweep.add_argument("--declared-crashes", action="store_true",
                       help="also check the example of each crash the backends declare (numbered after the "
                            "generated cases, in shard 1), so the records say which versions still crash")
    sweep.add_argument("--grad", action="store_true", help=GRAD_HELP)
    sweep.set_defaults(func=cmd_sweep)

    report = sub.add_parser("report", help="merge JSON Lines records into one self-contained HTML report")
    report.add_argument("records", nargs="+", help="records files written by sweep, check or port, and "
                                                   "comparisons written by compare --json")
    report.add_argument("-o", "--output", default="reports/index.html", help="default reports/index.html")
    report.set_defaults(func=cmd_report)

    explain = sub.add_parser("explain", help="print the exact equivalent call in each framework, run them, "
                                             "and say whether they agree")
    spec_arguments(explain)
    explain.add_argument("--isolate", action="store_true", help=ISOLATE_HELP)
    explain.set_defaults(func=cmd_explain)

    port = sub.add_parser("port", help="check every convolution of a PyTorch, Keras or Flax model in every backend")
    port.add_argument("target", help="module:callable (or file.py:callable) returning a model or (model, input)")
    port.add_argument("--input-shape", type=_shape, help="example input shape, e.g. 1,3,224,224 (random data)")
    port.add_argument("--name", help="the model's name in tables and records (default: its class or name)")
    backends_and_device(port)
    port.add_argument("--records", help="append one JSON line per layer and backend (for `report`)")
    port.add_argument("--quiet", action="store_true", help="no progress lines")
    port.add_argument("--isolate", action="store_true", help=ISOLATE_HELP)
    port.set_defaults(func=cmd_port)

    comp = sub.add_parser("compare", help="compare a model with its port: the first layer where they part, and why")
    comp.add_argument("source", help="module:callable (or file.py:callable) returning the model or (model, input)")
    comp.add_argument("target", help="the same for its port")
    comp.add_argument("--input-shape", type=_shape, help="the source's example input shape, e.g. 1,3,224,224 (random data)")
    comp.add_argument("--target-layout", choices=("channels_first", "channels_last"),
                      help="the target's input layout (default: inferred from the target)")
    comp.add_argument("--json", help="write the comparison as JSON (a stable format: docs/formats.md)")
    comp.add_argument("--grad", action="store_true",
                      help="also differentiate a loss (the output times a fixed random cotangent, summed) in both "
                           "models with their own framework, and compare each pair's weight and bias gradients")
    comp.add_argument("--records", help="also check the target's layers in every backend, as `port` does, and "
                                        "append their records (for `report`)")
    backends_and_device(comp)
    comp.set_defaults(func=cmd_compare)

    diag = sub.add_parser("diagnose", help="name the porting mistake that explains a port's output")
    spec_arguments(diag, seed=False)
    diag.add_argument("--inputs", required=True, help=".npz with x (spec layout), w (out, in/groups, *k), b")
    diag.add_argument("--observed", required=True, help=".npy with the port's output (spec layout)")
    diag.set_defaults(func=cmd_diagnose)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or one line on a bad option (Parser.error)
        return exc.code
    try:
        if hasattr(args, "backends"):
            args.backends = _backends(args.backends)
        if getattr(args, "device", None) is not None and args.device.accelerator:
            from .devices import require

            with given_input():
                require(args.device)
        status = args.func(args)
        sys.stdout.flush()  # here, not at exit, so that a reader gone away is caught below
        return status
    except UsageError as exc:
        print(f"convharness {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModelFailed as exc:
        print(f"convharness {args.command}: error: {exc}", file=sys.stderr)
        return MODEL_RAISED
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as a pipe's writer does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's flush at exit must not raise again
        return 1


if __name__ == "__main__":
    sys.exit(main())
