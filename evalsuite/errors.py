"""Errors a user can fix: reported as one line, never as a traceback."""


class UserError(Exception):
    """A problem in the user's input or environment, with the fix in the message.

    The CLI prints ``evalsuite: <message>`` and exits with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class RunFault(UserError):
    """Something broke during the run (a server died twice): one line like bad input, but
    the run directory is kept, marked ``partial``, so the same command can continue it."""

    exit_code = 1


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (or its type), for a one-line report."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
