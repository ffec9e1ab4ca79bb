"""``idc autodrm mail`` (IMS1.0 requests by e-mail: MTA pipe or Maildir) and ``idc autodrm log``."""
from __future__ import annotations

import json
import sys

import click

from pipeline.cli.common import _fail, with_settings
from pipeline.errors import IdcError
from pipeline.settings import Settings


@click.group("autodrm")
def autodrm_group():
    """The AutoDRM's e-mail path (IMS1.0 REQUEST messages by e-mail; see pipeline/autodrm/mail.py)."""


def _inventory(settings):
    try:
        from pipeline.tasks import station_inventory

        return station_inventory(settings)
    except (IdcError, OSError):  # no readable station files: answers without calibration
        return None


@autodrm_group.command("mail")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--maildir", type=click.Path(file_okay=False), default=None,
              help="Answer the messages in DIR/new and move them to DIR/cur (failed ones to DIR/.failed).")
@with_settings
def mail_cmd(settings: Settings, files, maildir):
    """Answer request e-mails: RFC 5322 FILES ('-' = standard input, for an MTA pipe such as
    Postfix `| idc autodrm mail -`) or a Maildir (--maildir DIR).

    Each message gets one answer (a second run sends nothing); the log: `idc autodrm log`.
    Exit status (sysexits): 0 = all answered (or answered before), 75 = an SMTP server failed
    transiently (the MTA retries a piped message later; a Maildir message stays in new/),
    65 = a message could not be answered at all (kept in DIR/.failed or $IDC_HOME/autodrm/failed).
    """
    from pipeline.autodrm import mail

    if not files and not maildir:
        raise click.UsageError("give FILE..., '-' (standard input) or --maildir DIR")
    outcomes = []
    inv = None
    try:
        if maildir:
            inv = _inventory(settings)
            for name, res in mail.process_maildir(settings, maildir, inventory=inv):
                outcomes.append(res)
                click.echo(f"{name}: {_line(res)}", err=True)
        for f in files:
            raw = sys.stdin.buffer.read() if f == "-" else open(f, "rb").read()
            if inv is None:
                inv = _inventory(settings)
            res = mail.process_message(settings, raw, inventory=inv)
            if res.status == "failed":
                mail.keep_failed(settings, raw, res)
            outcomes.append(res)
            click.echo(f"{'stdin' if f == '-' else f}: {_line(res)}", err=True)
    except (OSError, ValueError) as exc:
        _fail(exc)
    sys.exit(mail.exit_status(outcomes))


def _line(res) -> str:
    s = f"{res.status}"
    if res.status == "sent":
        s += f" {res.answer} to {res.reply_to} ({res.channel}, {res.parts} part(s), {res.bytes} bytes)"
    if res.error:
        s += f": {res.error}"
    if res.file:
        s += f" [{res.file}]"
    return s


@autodrm_group.command("log")
@click.option("--limit", type=int, default=50, show_default=True, help="Newest rows to show.")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@with_settings
def log_cmd(settings: Settings, limit, as_json):
    """The e-mail log: every request e-mail, who sent it (account), what was answered, to where,
    size and status (sent, retry, failed, ignored)."""
    from pipeline.autodrm.mail import message_log

    try:
        rows = message_log(settings, limit)
    except Exception as exc:  # command boundary: one line (traceback with --debug)
        _fail(exc)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    click.echo(f"{'received':<20} {'status':<8} {'answer':<9} {'sender':<28} {'user':<14} {'msg_id':<14} "
               f"{'to':<28} {'via':<5} {'parts':>5} {'bytes':>9}  error")
    for r in rows:
        click.echo(f"{r['received'].strftime('%Y-%m-%dT%H:%M:%S'):<20} {r['status']:<8} {r['answer']:<9} "
                   f"{r['sender'][:28]:<28} {r['user_name'][:14]:<14} {r['request_id'][:14]:<14} "
                   f"{r['reply_to'][:28]:<28} {r['channel']:<5} {r['parts']:>5} {r['bytes']:>9}  {r['error'][:80]}")
