"""``idc accounts …`` (States, users, API tokens) and ``idc subscriptions …`` (standing orders).

Thin: parses arguments and calls :mod:`pipeline.store.accounts` and
:mod:`pipeline.distribution`. A new token is printed once and never stored in clear.
"""
from __future__ import annotations

import json

import click

from pipeline.cli.common import ISO_TIME, one_line, with_settings
from pipeline.settings import Settings


def _run(settings: Settings, fn, *args, **kwargs):
    """Run ``fn(session, ...)`` in one transaction; account/subscription errors → one-line CLI error."""
    from pipeline.store.db import ensure_schema, session_scope

    try:  # (AccountError, SubscriptionError are ValueErrors)
        ensure_schema(settings.database_url)
        with session_scope(settings.database_url) as s:
            return fn(s, *args, **kwargs)
    except (ValueError, FileNotFoundError) as exc:
        one_line(exc)


# ============================================================================ accounts
@click.group("accounts")
def accounts_group():
    """States, users (roles: state_principal, state_user, analyst, operator, public) and API tokens."""


@accounts_group.command("add-state")
@click.argument("code")
@click.argument("name")
@with_settings
def add_state_cmd(settings: Settings, code, name):
    """Add a State: ISO 3166-1 CODE (e.g. DE or DEU) and NAME."""
    from pipeline.store.accounts import add_state

    st = _run(settings, lambda s: (lambda r: (r.code, r.name))(add_state(s, code, name)))
    click.echo(f"State {st[0]} ({st[1]}) added")


@accounts_group.command("add-user")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["state_principal", "state_user", "analyst", "operator",
                                                          "public"]))
@click.option("--state", default=None, help="ISO code of the user's State (required for state roles).")
@click.option("--email", default="", help="E-mail address (informational; subscriptions name their own target).")
@click.option("--rate", type=float, default=None, help="Own rate limit, requests/s (0 = unlimited).")
@click.option("--burst", type=int, default=None, help="Own burst size (requests).")
@with_settings
def add_user_cmd(settings: Settings, name, role, state, email, rate, burst):
    """Add a user NAME with a role (and State)."""
    from pipeline.store.accounts import add_user

    _run(settings, lambda s: add_user(s, name, role, state, email, rate, burst))
    click.echo(f"user {name} added (role {role}{', State ' + state.upper() if state else ''})")


@accounts_group.command("token")
@click.argument("user")
@click.option("--label", default="", help="What the token is for.")
@click.option("--expires-days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Expire after this many days (default: never).")
@with_settings
def token_cmd(settings: Settings, user, label, expires_days):
    """Create an API token for USER and print it (once: only its hash is kept)."""
    from pipeline.store.accounts import create_token

    realm = settings.access.digest.realm
    tok, tid = _run(settings, lambda s: (lambda t: (t[0], t[1].token_id))(
        create_token(s, user, label, expires_days, digest_realm=realm)))
    click.echo(tok)
    click.echo(f"token id {tid} for {user}: keep the token above secret; it cannot be shown again. "
               f"Use it as 'Authorization: Bearer <token>', or as the password of user {user} for HTTP "
               f"Digest/Basic (FDSN queryauth, obspy Client(user=..., password=...); realm {realm!r}).", err=True)


@accounts_group.command("revoke")
@click.argument("token_id", required=False)
@click.option("--user", default=None, help="Revoke every token of this user.")
@with_settings
def revoke_cmd(settings: Settings, token_id, user):
    """Revoke a token (by its id, as listed by `idc accounts list`) or all tokens of --user."""
    from pipeline.store.accounts import revoke

    n = _run(settings, lambda s: revoke(s, token_id, user))
    click.echo(f"{n} token{'s' if n != 1 else ''} revoked")


@accounts_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@with_settings
def list_cmd(settings: Settings, as_json):
    """States, users and token ids (never the tokens)."""
    from pipeline.store.accounts import list_accounts

    data = _run(settings, list_accounts)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for st in data["states"]:
        click.echo(f"State {st['code']:<4} {st['name']}")
    for u in data["users"]:
        active = [t for t in u["tokens"] if not t["revoked"]]
        click.echo(f"user  {u['name']:<20} {u['role']:<16} {u['state'] or '-':<4} "
                   f"tokens: {', '.join(t['id'] for t in active) or '-'}"
                   f"{' (' + str(len(u['tokens']) - len(active)) + ' revoked)' if len(active) < len(u['tokens']) else ''}")


# ============================================================================ subscriptions
@click.group("subscriptions")
def subscriptions_group():
    """Standing orders: daily bulletins, event alerts, station data; by webhook or e-mail."""


def _floats(text, name, n):
    if text is None:
        return None
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) != n:
        raise click.BadParameter(f"needs {n} comma-separated numbers", param_hint=name)
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not {n} numbers", param_hint=name) from None


@subscriptions_group.command("add")
@click.option("--user", required=True)
@click.option("--kind", required=True, type=click.Choice(["bulletin", "alert", "station_data"]))
@click.option("--products", required=True, help="Comma list of product types (e.g. REB,SEL3).")
@click.option("--webhook", default=None, help="Deliver by HTTP POST to this URL (signed, see docs).")
@click.option("--email", default=None, help="Deliver by e-mail to this address.")
@click.option("--secret", default=None, help="Webhook HMAC secret (default: a random one, printed).")
@click.option("--format", "fmt", type=click.Choice(["ims1", "quakeml"]), default=None, help="Bulletin format.")
@click.option("--box", default=None, help="Alerts: MINLAT,MAXLAT,MINLON,MAXLON (degrees).")
@click.option("--circle", default=None, help="Alerts: LAT,LON,RADIUS (degrees).")
@click.option("--min-mag", type=float, default=None)
@click.option("--max-mag", type=float, default=None)
@click.option("--mag-type", default=None, help="Alerts: magnitude type the limits apply to (e.g. mb).")
@click.option("--min-depth", type=float, default=None, help="km")
@click.option("--max-depth", type=float, default=None, help="km")
@click.option("--channels", default=None, help="Station data: comma list of NET.STA.LOC.CHA (wildcards * ?).")
@click.option("--empty", type=click.Choice(["once", "skip", "each"]), default=None,
              help="Bulletins: a window without events sends one 'no events' message until a bulletin with "
                   "events was sent (once, the default), nothing (skip) or an empty bulletin (each).")
@with_settings
def sub_add_cmd(settings: Settings, user, kind, products, webhook, email, secret, fmt, box, circle, min_mag, max_mag,
                mag_type, min_depth, max_depth, channels, empty):
    """Add a subscription for --user."""
    from pipeline.distribution.subscriptions import add_subscription

    if bool(webhook) == bool(email):
        raise click.UsageError("give exactly one of --webhook URL or --email ADDRESS")
    filters = {"box": _floats(box, "--box", 4), "circle": _floats(circle, "--circle", 3), "min_magnitude": min_mag,
               "max_magnitude": max_mag, "magnitude_type": mag_type, "min_depth_km": min_depth,
               "max_depth_km": max_depth, "channels": channels, "empty": empty}
    filters = {k: v for k, v in filters.items() if v is not None}
    sid, sec = _run(settings, lambda s: (lambda r: (r.id, r.secret))(add_subscription(
        s, user, kind, products, "webhook" if webhook else "email", webhook or email, filters, fmt or "", secret)))
    click.echo(f"subscription {sid} added")
    if webhook and not secret:
        click.echo(f"webhook secret (verify X-IDC-Signature with it): {sec}")


@subscriptions_group.command("list")
@click.option("--user", default=None)
@click.option("--json", "as_json", is_flag=True)
@with_settings
def sub_list_cmd(settings: Settings, user, as_json):
    """Subscriptions (all, or of --user)."""
    from pipeline.distribution.subscriptions import list_subscriptions

    rows = _run(settings, lambda s: list_subscriptions(s, user))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['id']:>4} {r['user']:<16} {r['kind']:<12} {','.join(r['products']):<10} {r['channel']:<7} "
                   f"{r['target']} {json.dumps(r['filters']) if r['filters'] else ''}")


@subscriptions_group.command("remove")
@click.argument("subscription_id", type=int)
@with_settings
def sub_remove_cmd(settings: Settings, subscription_id):
    """Remove a subscription (and its delivery log)."""
    from pipeline.distribution.subscriptions import remove_subscription

    _run(settings, lambda s: remove_subscription(s, subscription_id))
    click.echo(f"subscription {subscription_id} removed")


@subscriptions_group.command("deliveries")
@click.option("--subscription", type=int, default=None)
@click.option("--status", type=click.Choice(["pending", "sending", "delivered", "failed", "skipped"]), default=None)
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@with_settings
def sub_deliveries_cmd(settings: Settings, subscription, status, limit, as_json):
    """The delivery log (newest first)."""
    from pipeline.distribution.subscriptions import list_deliveries

    rows = _run(settings, lambda s: list_deliveries(s, subscription, status, limit))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['delivery_id']} sub {r['subscription']:<4} {r['product']:<5} v{r['version']:<3} "
                   f"{r['item'] or '-':<45} {r['status']:<9} attempts {r['attempts']} {r['bytes']} B "
                   f"{r['last_error'][:80]}")


@subscriptions_group.command("deliver")
@click.option("--product", required=True)
@click.option("--start", type=ISO_TIME, required=True)
@click.option("--end", type=ISO_TIME, required=True)
@click.option("--version", type=int, default=None, help="Default: the newest.")
@with_settings
def sub_deliver_cmd(settings: Settings, product, start, end, version):
    """Send a product version to its subscribers now (what the distribute DAG does; safe to re-run)."""
    from pipeline.tasks import subscriptions_deliver

    try:
        res = subscriptions_deliver(settings, product, start, end, version)
    except (ValueError, FileNotFoundError) as exc:
        one_line(exc)
    click.echo(json.dumps(res, indent=2))
    if res.get("failed"):
        raise SystemExit(1)


@subscriptions_group.command("retry")
@with_settings
def sub_retry_cmd(settings: Settings):
    """Try every failed delivery again (each product version that has one)."""
    from pipeline.distribution.deliver import retry_failed

    res = retry_failed(settings)
    click.echo(json.dumps(res, indent=2))
    if any(r.get("failed") for r in res):
        raise SystemExit(1)
