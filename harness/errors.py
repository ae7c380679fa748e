"""How an exception is shown where the harness reports it in one line (a failed run's reason in
the store, a skipped replay, a broken env contract, an unreadable store)."""
from __future__ import annotations


def first_line(err: BaseException) -> str:
    """The first line of the exception's message, or its type's name when it has none."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
