"""What every ``idc`` command shares: ``--config`` and the settings (:func:`with_settings`), the
one error path (:func:`error_exit`: every :class:`~pipeline.errors.IdcError` leaves a command as
one line, no traceback unless ``idc --debug`` / ``IDC_DEBUG=1``; :func:`fail` for the other
exceptions a command expects), the ISO 8601 time option type
(:data:`ISO_TIME`) and the product-type choice (:data:`PRODUCTS`). The command modules import
these from here, never from :mod:`pipeline.cli.main` (which imports them)."""
from __future__ import annotations

import contextvars
import functools
import os

import click

from pipeline.errors import BAD_VALUE, IdcError
from pipeline.settings import Settings, load_settings
from pipeline.store.products import PRODUCT_TYPES

CONFIG_HELP = "TOML configuration file (default: $IDC_CONFIG or config/default.toml)."


def fmt_time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    from obspy import UTCDateTime

    return UTCDateTime(epoch).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]


def with_settings(func=None, *, reads_store: bool = False):
    """Add ``--config`` to a command and pass the loaded :class:`Settings` as first argument.

    Every command's errors leave through here: the pipeline's own errors (:class:`IdcError`:
    configuration, input files, an unreachable store, ...) and database errors, as one line with
    no traceback (:func:`error_exit`; the traceback with ``idc --debug``). ``reads_store=True`` marks a command that only
    reads: on an embedded store that does not exist (a mistyped IDC_HOME) it says so instead of
    creating an empty store."""
    if func is None:
        return functools.partial(with_settings, reads_store=reads_store)

    @click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, help=CONFIG_HELP)
    @click.pass_context
    @functools.wraps(func)
    def wrapper(ctx: click.Context, *args, config_file=None, **kwargs):
        from pipeline.store.db import DatabaseError
        from pipeline.tasks import use_settings

        chosen = config_file or (ctx.find_root().params.get("config_file"))
        token = None
        try:
            settings = use_settings(load_settings(chosen))
            if reads_store:
                _require_store(settings)
            from pipeline.store.db import redact_url

            token = _STORE.set(redact_url(settings.database_url))
            return func(settings, *args, **kwargs)
        except IdcError as exc:  # a bad configuration, input, an unreachable store, ...: one line
            error_exit(exc)
        except DatabaseError as exc:  # a mistyped URL, an unknown driver, a refused connection: one line
            fail(exc)
        finally:
            if token is not None:
                _STORE.reset(token)

    return wrapper


def debug_enabled() -> bool:
    """``idc --debug`` or ``IDC_DEBUG=1``: errors show their traceback instead of one line."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().params.get("debug"):
        return True
    return os.environ.get("IDC_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def error_message(exc: IdcError) -> str:
    """The user's line of an :class:`IdcError` (its message; the class name when it has none)."""
    return str(exc).strip() or type(exc).__name__


def one_line(exc: BaseException, message: str | None = None) -> None:
    """An exception a command expects (a bad value, a missing file) as the one line ``message``
    (default: its text); with ``--debug`` the exception itself. Call it inside the ``except``
    block."""
    if debug_enabled():
        raise exc
    raise click.ClickException(str(exc) if message is None else message) from None


def error_exit(exc: IdcError) -> None:
    """The one exit of the pipeline's own errors: ``Error: <message>`` on stderr, exit status 1
    (a :class:`click.ClickException`); with ``--debug`` the exception itself, traceback and all.
    Call it inside the ``except`` block."""
    if debug_enabled():
        raise exc
    raise click.ClickException(error_message(exc)) from None


#: the store of the running command (redacted URL), named by database errors
_STORE: contextvars.ContextVar[str] = contextvars.ContextVar("idc_store", default="")


def _require_store(settings: Settings) -> None:
    """A read command on an embedded store that does not exist: say so (one line) instead of
    creating an empty store in a mistyped home."""
    if settings.store.database_url:
        return
    db = settings.home / "idc.sqlite"
    if not db.exists():
        raise click.ClickException(f"no store in {settings.home} ({db} does not exist): is IDC_HOME / --config "
                                   "right? (`idc db upgrade` creates a store)")


class IsoTime(click.ParamType):
    """An ISO 8601 time; a bad value is reported naming the option (click's BadParameter)."""

    name = "TIME"

    def convert(self, value, param, ctx):
        if value is None or not isinstance(value, str):
            return value
        from obspy import UTCDateTime

        try:
            UTCDateTime(value)
        except BAD_VALUE:
            self.fail(f"{value!r} is not a time (ISO 8601, e.g. 2014-08-24 or 2014-08-24T00:20:00)", param, ctx)
        return value


ISO_TIME = IsoTime()


def fail(exc: Exception) -> None:
    """An exception a command expects, as one line (:func:`error_exit` for the pipeline's own
    errors; the traceback with ``--debug``). Call it inside the ``except`` block."""
    from pipeline.store.db import DatabaseError, driver_error

    if isinstance(exc, IdcError):
        error_exit(exc)
    if debug_enabled():
        raise exc
    if isinstance(exc, DatabaseError):  # one line (the driver's first), not the SQL and the help link
        cause = driver_error(exc)
        where = f" ({_STORE.get()})" if _STORE.get() else ""
        raise click.ClickException(f"database error{where}: {type(cause).__name__}: "
                                   f"{(str(cause).strip().splitlines() or [''])[0]}")
    raise click.ClickException(f"{type(exc).__name__}: {exc}" if not isinstance(exc, (ValueError, FileNotFoundError)) else str(exc))



#: a product type option (case-insensitive)
PRODUCTS = click.Choice(list(PRODUCT_TYPES), case_sensitive=False)

#: the names the command modules used when these lived in cli/main.py
_fail, _fmt_time = fail, fmt_time
