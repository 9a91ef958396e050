"""nox sessions for convharness. `nox -l` lists them."""

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

CONSTRAINTS = ("-c", "constraints.txt")


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The pytest suite on the pinned framework versions (constraints.txt)."""
    session.install("-e", ".[all,test]", *CONSTRAINTS)
    session.run("pytest", *session.posargs)
