"""``idc serve``: run the web service (FDSN web services) over the store and the SDS archive."""
from __future__ import annotations

import os

import click

from pipeline.cli.common import with_settings
from pipeline.settings import DEFAULT_CONFIG, Settings


@click.command("serve")
@click.option("--host", default=None, help="Address to bind (default: [service] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default: [service] port, 8080).")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="uvicorn worker processes (default: [service] workers, 1).")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True)
@with_settings
def serve(settings: Settings, host, port, workers, log_level):
    """Serve fdsnws-event, fdsnws-station and fdsnws-dataselect under /fdsnws/<service>/1/.

    Reads the store ($IDC_DATABASE_URL or $IDC_HOME/idc.sqlite) and the SDS archive
    ($IDC_HOME/archive); obspy's FDSN Client(base_url="http://HOST:PORT") works against it.
    """
    import uvicorn

    from pipeline.service.app import create_app
    from pipeline.tasks import _redact

    host = host or settings.service.host
    port = port or settings.service.port
    workers = workers or settings.service.workers
    try:
        app = create_app(settings)  # also checks the store (and migrates it) before binding
    except Exception as exc:  # command boundary: the store cannot be opened, whatever the driver raises
        raise click.ClickException(f"cannot open the store: {type(exc).__name__}: {exc}") from None
    click.echo(f"idc serve: http://{host}:{port}/fdsnws/event/1/ (store {_redact(settings.database_url)}, "
               f"archive {settings.archive_dir}, {workers} worker{'s' if workers > 1 else ''})")
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level=log_level)
        return
    # worker processes rebuild the settings from the same configuration file and environment
    chosen = [s for s in settings.sources if os.path.abspath(s) != os.path.abspath(DEFAULT_CONFIG)]
    if chosen:
        os.environ["IDC_CONFIG"] = chosen[-1]
    os.environ["IDC_HOME"] = str(settings.home)
    uvicorn.run("pipeline.service.app:create_app_from_environment", factory=True, host=host, port=port,
                workers=workers, log_level=log_level)
