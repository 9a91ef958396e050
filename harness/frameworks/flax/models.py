"""The porting hooks for Flax models (``harness.porting.MODEL_HOOKS``): an NNX module, or a
callable that runs linen modules. Such a callable is recognised by what it holds (a bound
linen Module, ``functools.partial(module.apply, variables)``, a jitted function of one, or
an object with one among its attributes): running an arbitrary object to find out would
need an input, and could have effects of its own."""

from __future__ import annotations

import sys

import numpy as np

from ...porting.hooks import instance_of

NAME = "flax"
KIND = ("a Flax model (a flax.nnx.Module; a bound flax.linen Module, functools.partial(module.apply, "
        "variables) or an object that holds and calls one)")


_nnx = instance_of("flax.nnx", "Module")


def recognises(model) -> bool:
    linen = sys.modules.get("flax.linen")  # a model of a module not yet imported cannot exist
    if _nnx(model):
        return True
    if linen is None or not callable(model):
        return False
    from .scan import linen_modules

    return next(linen_modules(model, linen), None) is not None


def scan(model, example, *, name: str | None = None, fold_zero_padding: bool = False):
    from .scan import scan_flax, scan_linen

    scanner = scan_flax if _nnx(model) else scan_linen
    return scanner(model, example, name=name, fold_zero_padding=fold_zero_padding)


def channels_last(model, example: np.ndarray, example_last: bool) -> bool:
    """Flax's convolutions take channels-last."""
    return True


def paste_backend() -> str:
    return "flax"


def to_numpy(value) -> np.ndarray | None:
    """A jax array as NumPy; None for anything else."""
    jax = sys.modules.get("jax")
    return np.asarray(value) if jax is not None and isinstance(value, jax.Array) else None


def run_substituted(model, example, outputs: dict):
    """One forward pass of an NNX model in which each ``nnx.Conv``/``nnx.ConvTranspose`` named in
    ``outputs`` returns that array instead of its own result (their ``__call__`` wrapped for the
    pass, as the scan does): ({layer path: the input it got}, the output). None for any other Flax
    model: a linen module's calls are not substituted here."""
    from flax import nnx

    if not isinstance(model, nnx.Module):
        return None
    import jax.numpy as jnp

    kinds = (nnx.Conv, nnx.ConvTranspose)
    names = {id(node): "/".join(map(str, path)) for path, node in nnx.iter_graph(model) if isinstance(node, kinds)}
    originals = {kind: kind.__call__ for kind in kinds}
    inputs: dict[str, np.ndarray] = {}

    def wrapped(original):
        def __call__(self, x, *args, **kwargs):
            name = names.get(id(self)) or type(self).__name__
            rank = len(self.kernel_size)
            array = np.asarray(x)
            inputs[name] = array.reshape((-1, *array.shape[array.ndim - rank - 1:]))
            y = original(self, x, *args, **kwargs)
            given = outputs.get(name)
            if given is None or np.size(given) != y.size:
                return y
            return jnp.asarray(np.asarray(given).reshape(y.shape), dtype=y.dtype)
        return __call__

    try:
        for kind, original in originals.items():
            kind.__call__ = wrapped(original)
        output = model(example)
    finally:
        for kind, original in originals.items():
            kind.__call__ = original
    return inputs, output


def own_fix(mistake: str, source, target) -> str:
    """The fix in Flax's terms: a padding as explicit pairs (a Flax conv takes them); a transposed
    kernel as ``transpose_kernel=True``. "" where the generic fix says it."""
    if mistake == "padding" and not target.transposed:
        return f"fix: give the Conv padding={source.explicit_padding}"
    if mistake in ("transposed_kernel_not_flipped", "flipped_kernel") and target.transposed:
        return ("fix: give the ConvTranspose transpose_kernel=True (it then flips the kernel and swaps in/out "
                "as PyTorch and TensorFlow weights need), or flip the spatial axes yourself")
    return ""


def parameter_gradients(model, example, cotangent) -> dict:
    """``{conv layer path (as the scan names it): (dw, db)}``: the gradients of
    ``sum(model(example) * cotangent)``, the kernel's in the neutral order. An NNX
    model's with respect to its ``nnx.Param``s by ``nnx.grad``: None for a weight that is
    no Param (frozen: held in another nnx.Variable type). A linen model's with respect to
    each conv's ``params`` at its call (``linen_gradients``). Zeros where a
    ``jax.lax.stop_gradient`` downstream of a conv cuts it off (JAX's way)."""
    if not _nnx(model):
        return linen_gradients(model, example, cotangent)
    import jax.numpy as jnp
    from flax import nnx

    from .scan import neutral_weight

    grads = nnx.grad(lambda m: jnp.sum(m(example) * jnp.asarray(cotangent)))(model)
    flat = {tuple(path): value for path, value in nnx.to_flat_state(grads)}
    found = {}
    for path, node in nnx.iter_graph(model):
        if isinstance(node, (nnx.Conv, nnx.ConvTranspose)):
            kernel, bias = flat.get((*path, "kernel")), flat.get((*path, "bias"))
            found["/".join(map(str, path))] = (
                None if kernel is None else neutral_weight(kernel[...], None, flipped_transpose=isinstance(
                    node, nnx.ConvTranspose) and not node.transpose_kernel),
                None if bias is None else np.asarray(bias[...]))
    return found


def linen_gradients(model, example, cotangent) -> dict:
    """A linen model's ``parameter_gradients``: ``jax.vjp`` of ``model(example)`` with respect
    to the ``params`` of each ``flax.linen.Conv``/``ConvTranspose`` by its module path.
    Whoever holds the variables (a bound module, a partial's variables, a wrapper's own
    attribute), every conv call is caught with ``flax.linen.intercept_methods``, as the
    scan catches it, and run as the conv applied to the params given to the vjp (a conv
    called twice sums both calls' gradients), under ``jax.disable_jit()`` so that a
    jitted wrapper's calls are seen. Linen holds no frozen parameter: every conv's
    params get a gradient, zero where a stop_gradient cuts it off."""
    import jax
    import jax.numpy as jnp
    import flax.linen as nn

    from .scan import linen_conv, linen_name, neutral_weight

    held, modules = {}, {}

    def convs(substitute):
        inside = []  # the substituted conv's own apply: not caught again

        def intercept(next_fun, args, kwargs, context):
            module = context.module
            if inside or context.method_name != "__call__" or linen_conv(module, nn) != "":
                return next_fun(*args, **kwargs)
            inside.append(module)
            try:
                return substitute(module, next_fun, args, kwargs)
            finally:
                inside.pop()
        return nn.intercept_methods(intercept)

    def read(module, next_fun, args, kwargs):
        modules.setdefault(linen_name(module), module)
        held.setdefault(linen_name(module), nn.meta.unbox(module.variables["params"]))
        return next_fun(*args, **kwargs)

    def forward(params):
        def given(module, next_fun, args, kwargs):
            return module.clone(parent=None).apply({"params": params[linen_name(module)]}, *args, **kwargs)

        with convs(given):
            return model(example)

    with jax.disable_jit():
        with convs(read):
            model(example)
        y, pull_back = jax.vjp(forward, held)
        grads = pull_back(jnp.asarray(cotangent, y.dtype))[0]
    return {name: (neutral_weight(grad["kernel"], None, flipped_transpose=isinstance(
                modules[name], nn.ConvTranspose) and not modules[name].transpose_kernel),
                   np.asarray(grad["bias"]) if "bias" in grad else None)
            for name, grad in grads.items()}
