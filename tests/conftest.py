"""Hypothesis profiles, registered once: HYPOTHESIS_PROFILE picks one
("dev" by default, "ci" when CI is set). Under pytest-xdist each worker sizes
the frameworks' thread pools to its share of the cores before any framework
is imported (harness.threads)."""

import gc
import os
from datetime import timedelta

from hypothesis import settings

from harness.threads import share_cores

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    share_cores(int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))

# JAX compiles each new shape on first use (tens of ms, up to seconds for a
# large grouped 3-D case on a busy machine): deadlines leave room for that.
settings.register_profile("dev", max_examples=15, deadline=timedelta(seconds=20))
settings.register_profile("ci", max_examples=40, deadline=timedelta(seconds=30), print_blob=True)
settings.register_profile("thorough", max_examples=500, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_finish(session):
    """Collection has imported the frameworks: their hundreds of thousands of
    long-lived objects leave the garbage collector's view, so each collection
    during the tests and at exit walks only what the tests create."""
    gc.freeze()
