"""User-facing errors. The CLI prints these as one line and exits non-zero, without a traceback."""


class RobolearnError(Exception):
    """Bad input or an impossible request: the message is shown to the user as is."""


class DataError(RobolearnError):
    """A dataset file that is missing, unreadable, or not in the expected layout."""
