"""The one error type the stack reports to its users."""

from __future__ import annotations


class StackError(Exception):
    """A failure the user can act on: the CLI prints its message on one line, with no traceback.

    The message says what went wrong and what to do about it, e.g. which environment variable
    to set. Every expected failure (port taken, Java missing, download refused, start-up
    deadline passed) is raised as a ``StackError``; anything else is a bug and keeps its
    traceback.
    """
