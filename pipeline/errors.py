"""The one root of the pipeline's own errors (bottom layer: imports no other pipeline module).

Every error class of the library derives from :class:`IdcError`, keeping its other bases
(``ValueError``, ``RuntimeError``, ...) so that ``except ValueError`` code keeps working. The
message of an :class:`IdcError` is written for the user: the ``idc`` command prints it as one
line (``idc --debug`` / ``IDC_DEBUG=1`` shows the traceback instead), the web services answer
with it.

The subclasses carry what they name, as attributes besides the message:

* :class:`InputError` — an input file, table or message is not what it must be: ``path`` (the
  file), ``field`` (column, key, line, ...);
* :class:`ParameterError` — a parameter of a call or an option of a command is invalid:
  ``parameter``;
* :class:`ConfigError` — a configuration value is missing or invalid: ``key`` (dotted) and
  ``source`` (the file or environment variable it came from);
* :class:`StoreError` — the store (database) cannot be reached or used: ``database`` (redacted
  URL).

All take the message first (as ``Exception`` does), the named parts as keywords; when given,
these are put in front of the message (``path: field: message``).
"""
from __future__ import annotations


class IdcError(Exception):
    """Root of the errors the pipeline raises on purpose (a message for the user, no bug)."""


def _named(message: str, *parts) -> str:
    prefix = ": ".join(str(p) for p in parts if p not in (None, ""))
    if not prefix:
        return message
    return f"{prefix}: {message}" if message else prefix


class InputError(IdcError, ValueError):
    """An input (file, table, message, value) is not what it must be.

    :param path: the file (or other source) the input came from
    :param field: the column, key, line or record of that input
    """

    def __init__(self, *args, path=None, field=None):
        self.path = None if path is None else str(path)
        self.field = None if field is None else str(field)
        if args and (path is not None or field is not None):
            args = (_named(str(args[0]), self.path, self.field), *args[1:])
        super().__init__(*args)


class ParameterError(IdcError, ValueError):
    """A parameter of a call (an option of a command) is invalid; ``parameter`` names it."""

    def __init__(self, *args, parameter=None):
        self.parameter = None if parameter is None else str(parameter)
        if args and parameter is not None:
            args = (_named(str(args[0]), self.parameter), *args[1:])
        super().__init__(*args)


class ConfigError(IdcError, ValueError):
    """A configuration value is missing or invalid; the message names the key and its source
    (``key``: dotted key, ``source``: the file or environment variable it came from)."""

    def __init__(self, *args, key=None, source=None):
        self.key = None if key is None else str(key)
        self.source = None if source is None else str(source)
        if args and (key is not None or source is not None):
            args = (_named(str(args[0]), self.source, self.key), *args[1:])
        super().__init__(*args)


class StoreError(IdcError, RuntimeError):
    """The store (database) cannot be reached or used; ``database`` names it (redacted URL)."""

    def __init__(self, *args, database=None):
        self.database = None if database is None else str(database)
        super().__init__(*args)


#: what turning an input text into a value raises when the text is bad: ``obspy.UTCDateTime(text)``
#: (TypeError for text it cannot parse, ValueError for out-of-range fields), ``float``/``int``
#: (ValueError, TypeError for None), huge numbers (OverflowError). ``except BAD_VALUE`` where such
#: a failure becomes an error naming the input; anything else is a bug and is not caught there.
BAD_VALUE = (TypeError, ValueError, OverflowError)
