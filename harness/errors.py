"""The one exception type a user is meant to read."""


class HarnessError(Exception):
    """An error the user can fix (bad path, bad option, bad data line).

    The CLI prints its message without a traceback and exits with code 2. The message must name
    the file, item or option at fault.
    """
