"""What every ``idc`` command shares: ``--config`` and the settings (:func:`with_settings`), the
one error path (:func:`fail`: one line, no traceback), the ISO 8601 time option type
(:data:`ISO_TIME`) and the product-type choice (:data:`PRODUCTS`). The command modules import
these from here, never from :mod:`pipeline.cli.main` (which imports them)."""
from __future__ import annotations

import contextvars
import functools

import click

from pipeline.settings import ConfigError, Settings, load_settings
from pipeline.store.products import PRODUCT_TYPES

CONFIG_HELP = "TOML configuration file (default: $IDC_CONFIG or config/default.toml)."


def fmt_time(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    from obspy import UTCDateTime

    return UTCDateTime(epoch).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-4]


def with_settings(func=None, *, reads_store: bool = False):
    """Add ``--config`` to a command and pass the loaded :class:`Settings` as first argument.

    Every command's errors leave through here: configuration errors, an unreachable or broken
    database (one line naming it, no traceback). ``reads_store=True`` marks a command that only
    reads: on an embedded store that does not exist (a mistyped IDC_HOME) it says so instead of
    creating an empty store."""
    if func is None:
        return functools.partial(with_settings, reads_store=reads_store)

    @click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None, help=CONFIG_HELP)
    @click.pass_context
    @functools.wraps(func)
    def wrapper(ctx: click.Context, *args, config_file=None, **kwargs):
        from sqlalchemy.exc import SQLAlchemyError

        from pipeline.store.db import StoreError
        from pipeline.tasks import use_settings

        chosen = config_file or (ctx.find_root().params.get("config_file"))
        try:
            settings = use_settings(load_settings(chosen))
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        if reads_store:
            _require_store(settings)
        from pipeline.store.db import redact_url

        token = _STORE.set(redact_url(settings.database_url))
        try:
            return func(settings, *args, **kwargs)
        except StoreError as exc:  # e.g. the database server did not come up: one line, no traceback
            raise click.ClickException(str(exc)) from None
        except SQLAlchemyError as exc:  # a mistyped URL, an unknown driver, a refused connection: one line
            fail(exc)
        finally:
            _STORE.reset(token)

    return wrapper


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
        except Exception:
            self.fail(f"{value!r} is not a time (ISO 8601, e.g. 2014-08-24 or 2014-08-24T00:20:00)", param, ctx)
        return value


ISO_TIME = IsoTime()


def fail(exc: Exception) -> None:
    from sqlalchemy.exc import DBAPIError

    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError):  # one line (the driver's first), not the SQL and the help link
        cause = exc.orig if isinstance(exc, DBAPIError) else exc
        where = f" ({_STORE.get()})" if _STORE.get() else ""
        raise click.ClickException(f"database error{where}: {type(cause).__name__}: "
                                   f"{(str(cause).strip().splitlines() or [''])[0]}")
    raise click.ClickException(f"{type(exc).__name__}: {exc}" if not isinstance(exc, (ValueError, FileNotFoundError)) else str(exc))



#: a product type option (case-insensitive)
PRODUCTS = click.Choice(list(PRODUCT_TYPES), case_sensitive=False)

#: the names the command modules used when these lived in cli/main.py
_fail, _fmt_time = fail, fmt_time
