"""NumPy: the reference algorithm in the working precision (``adapter``)."""

BACKENDS = {"numpy": {"adapter": "NumPy", "requires": "numpy"}}
DISTRIBUTIONS = {"numpy": "numpy"}
PUBLIC: dict[str, str] = {}
