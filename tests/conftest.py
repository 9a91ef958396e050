"""Hypothesis profiles, registered once: HYPOTHESIS_PROFILE picks one
("dev" by default, "ci" when CI is set)."""

import os
from datetime import timedelta

from hypothesis import settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# JAX compiles each new shape on first use (tens of ms, up to seconds for a
# large grouped 3-D case on a busy machine): deadlines leave room for that.
settings.register_profile("dev", max_examples=15, deadline=timedelta(seconds=20))
settings.register_profile("ci", max_examples=40, deadline=timedelta(seconds=30), print_blob=True)
settings.register_profile("thorough", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
