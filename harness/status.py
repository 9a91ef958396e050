"""The five statuses an outcome can have, in one place."""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    """An outcome's status; equal to its string (``Status.PASS == "pass"``), as records store it."""

    PASS = "pass"
    MISMATCH = "mismatch"
    SHAPE_MISMATCH = "shape_mismatch"
    UNSUPPORTED = "unsupported"  # the framework refused a valid spec in a way its adapter declares
    ERROR = "error"  # the framework raised something no adapter declares, or died

    __str__ = str.__str__
    __format__ = str.__format__

    @property
    def failing(self) -> bool:
        """A disagreement with the reference, or a crash: what makes a check fail."""
        return self in (Status.MISMATCH, Status.SHAPE_MISMATCH, Status.ERROR)

    @property
    def ok(self) -> bool:
        return not self.failing


STATUSES = tuple(Status)
FAILING = tuple(status for status in Status if status.failing)
