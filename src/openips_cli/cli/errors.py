"""Bad input, and the exit codes of every ``openips`` command."""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad input found before anything was created on the server (exit 2)."""
