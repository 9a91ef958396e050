"""What every page of the report's model sections shares."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class SectionPage:
    """A page of a section: ``anchor`` is the id it is linked by, ``title`` what its heading names."""

    anchor: str
    title: str
