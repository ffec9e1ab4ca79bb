"""The AutoDRM's e-mail path: IMS1.0 REQUEST messages arrive by e-mail, the DATA message goes back
by e-mail (or into the FTP area, with a ``DATA_TYPE FTP_LOG`` notification) [REFERENCE §4.1, §4.4].

Input: RFC 5322 messages, piped by the MTA (``| idc autodrm mail -``) or read from a Maildir
(``idc autodrm mail --maildir DIR``). The request is the first text/plain part (quoted-printable,
base64, charsets and CRLF decoded by :mod:`email` with ``policy.default``); a subject of just
``HELP`` asks for the help text [GSE21 ch.2, REFERENCE §4.1].

Who asks: the From address, matched case-insensitively to an account's e-mail address, gives the
principal (role, State) exactly as an API token does over HTTP, and the access policy
(:func:`pipeline.accounts.policy.authorizer`) decides per request line. Senders without an
account are answered as ``public`` or not at all (``[autodrm] unknown_senders``; default "reject",
because From addresses can be forged: an ERROR_LOG to a forged address would be backscatter, so
the message is only logged, recorded in ``autodrm_message`` with status ``ignored`` and audited
with status 403). A registered sender's bad request (disabled account, address of several
accounts, unreadable request, redirect not allowed) still gets its ERROR_LOG. A forged From with
an ``E-MAIL`` line to the forger would leak restricted data, so a registered sender's answer goes
elsewhere than its From address only as ``[autodrm] reply_redirect`` allows. Loops: messages with ``Auto-Submitted`` other than ``no``
(RFC 3834 §2), from a mailer daemon or from our own address are logged and not answered; answers
carry ``Auto-Submitted: auto-replied`` (RFC 3834 §5).

Where the answer goes [REFERENCE §4.1]: the address of the ``E-MAIL`` line, else Reply-To, else
From. With an ``FTP <address>`` line the answer is written to ``[autodrm] ftp_dir`` and a
``DATA_TYPE FTP_LOG`` message naming it (``FTP_FILE <host> <USER|GUEST> <directory> <file>``, as
in the GSE2.1 reference example read by pyrocko's ``pyrocko.io.ims.FTPFile``) goes to the address.

Size: a DATA message over ``[autodrm] max_email_bytes`` (GSE2.1: e-mail up to 1 MB) is sent as
several complete messages ``BEGIN … REF_ID <request id> [<source>] PART n OF m … STOP``
(:func:`split_message`), cut between waveform segments (WID2 … CHK2) and between bulletin events;
a part that continues a section repeats its ``DATA_TYPE`` line (bulletins: and the title, marked
``(continued)``) so that every part is a readable data message on its own. :func:`join_parts`
puts the parts back together into the original message. All parts carry the same MSG_ID (the
grouping of split messages beyond ``PART n OF m`` is not in REFERENCE.md: our choice). Sections
that are not cut (station, channel and outage lists, logs) make a part larger than the limit only
when one of them alone is.

Idempotence and audit: every message gets a row in ``autodrm_message`` (migration 0006) keyed by
the SHA-256 of Message-ID + From (of From, Date, Subject and the body when there is no
Message-ID): a message already answered is not answered again. The row is also the audit of the
e-mail path (who, what, when, size, to where); with ``[access] audit`` a ``download_audit`` row
(method ``SMTP``, endpoint ``autodrm/mail``) is written too, like an HTTP request.

Outcomes (:class:`Outcome`): ``sent`` (answered, also with an ERROR_LOG), ``duplicate`` (answered
before), ``ignored`` (auto-submitted/bounce/loop), ``retry`` (the SMTP server failed transiently:
try again later; :data:`EX_TEMPFAIL` for the MTA), ``failed`` (nobody to answer, permanent SMTP
refusal or an internal error; the message is kept: Maildir folder ``.failed``, or
``$IDC_HOME/autodrm/failed/`` for piped messages).
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import logging
import os
import re
import secrets
import smtplib
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path

from pipeline.errors import IdcError

log = logging.getLogger("pipeline.autodrm.mail")

#: sysexits(3) codes for ``idc autodrm mail`` (Postfix pipe(8) and procmail understand them):
#: 75 = try again later (the MTA keeps the message queued), 65 = the message could not be handled
EX_OK, EX_DATAERR, EX_TEMPFAIL = 0, 65, 75
#: an ``answering`` row older than this belongs to a run that died: the message may be taken again
STALE_CLAIM_S = 3600.0
BULLETIN_TYPES = ("BULLETIN", "EVENT", "ORIGIN", "ARRIVAL")
CONTINUED = " (continued)"


class MailError(IdcError):
    """Sending failed; ``transient`` = worth trying again later (SMTP 4xx, connection refused)."""

    def __init__(self, message: str, transient: bool):
        super().__init__(message)
        self.transient = transient


@dataclass
class Incoming:
    """What is needed of a received e-mail."""

    message_id: str = ""
    key: str = ""
    sender: str = ""          # From address
    reply_to: str = ""        # Reply-To address ("" = none)
    subject: str = ""
    references: str = ""
    text: str | None = None   # the request (first text/plain part)
    problem: str = ""         # why it cannot be read as a request
    skip: str = ""            # why it must not be answered at all (auto-submitted, bounce)


@dataclass
class Outcome:
    key: str
    status: str               # sent | duplicate | ignored | retry | failed
    sender: str = ""
    user: str = ""
    reply_to: str = ""
    channel: str = ""         # email | ftp
    answer: str = ""          # data | error_log | help | refused
    parts: int = 0
    bytes: int = 0
    error: str = ""
    file: str = ""
    messages: list = field(default_factory=list, repr=False)  # the e-mails sent


# --------------------------------------------------------------------------- reading
def _address(value) -> str:
    try:
        addrs = [a for _, a in getaddresses([str(value)]) if "@" in a]
    except Exception:  # mail from anywhere: the email package raises many types on malformed headers
        return ""
    return addrs[0].strip() if addrs else ""


def read_message(raw: bytes) -> Incoming:
    """Parse an RFC 5322 message (bytes, CRLF or LF line ends)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    inc = Incoming()

    def header(name: str) -> str:
        try:
            v = msg.get(name)
        except Exception:  # a header the parser cannot make sense of (the email package raises many types)
            return ""
        return " ".join(str(v).split()) if v is not None else ""

    inc.sender = _address(header("From"))
    inc.reply_to = _address(header("Reply-To"))
    inc.subject = header("Subject")[:200]
    inc.message_id = header("Message-ID")[:255]
    inc.references = header("References")
    auto = header("Auto-Submitted").lower()
    if auto and auto != "no":
        inc.skip = f"Auto-Submitted: {auto} (RFC 3834: automatic messages are not answered)"
    elif inc.sender.split("@")[0].lower() in ("mailer-daemon", "postmaster"):
        inc.skip = f"from {inc.sender} (a delivery report, not a request)"
    part = None
    try:
        part = msg.get_body(preferencelist=("plain",))
    except Exception:  # a body the parser cannot make sense of: the plain part is searched below
        part = None
    if part is None:
        part = next((p for p in msg.walk() if p.get_content_type() == "text/plain"), None)
    if part is None:
        types = sorted({p.get_content_type() for p in msg.walk() if not p.is_multipart()})
        inc.problem = (f"the e-mail has no text/plain part (it has {', '.join(types) or 'no content'}); "
                       "send the IMS1.0 request message as plain text")
    else:
        try:
            text = part.get_content()
        except Exception:  # unknown charset, broken transfer encoding (LookupError, ...): bytes as UTF-8
            payload = part.get_payload(decode=True) or b""
            text = payload.decode("utf-8", "replace")
        if not isinstance(text, str):
            text = bytes(text).decode("utf-8", "replace")
        inc.text = text.replace("\r\n", "\n").replace("\r", "\n")
    if inc.message_id:
        basis = f"message-id\0{inc.message_id}\0{inc.sender.lower()}"
    else:
        body = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)
        content = body[1].replace(b"\r\n", b"\n") if len(body) > 1 else b""
        basis = f"content\0{inc.sender.lower()}\0{header('Date')}\0{inc.subject}\0" + \
            hashlib.sha256(content).hexdigest()
    inc.key = hashlib.sha256(basis.encode("utf-8", "replace")).hexdigest()
    return inc


# --------------------------------------------------------------------------- who
def sender_principal(session, settings, address: str):
    """``(principal, refusal)`` for the From ``address``: the account's principal, the public
    principal (unknown sender, ``unknown_senders = "public"``) or ``None`` and the reason."""
    from pipeline.accounts.policy import Principal
    from pipeline.store.accounts import accounts_by_email

    rows = accounts_by_email(session, address)
    active = [(u, st) for u, st in rows if u.active]
    client = f"mail:{address}"[:64]
    if len(active) > 1:
        names = ", ".join(u.name for u, _ in active)
        return None, (f"the sender address {address} belongs to several accounts ({names}); ask the IDC "
                      "to give each account its own address")
    if active:
        u, st = active[0]
        return Principal(name=u.name, roles=(u.role,), state=st.code if st else "", unrestricted=False,
                         user_id=u.id, state_id=u.state_id, access=settings.access, client=client), ""
    if rows:
        return None, f"the account of the sender address {address} is disabled"
    if settings.autodrm.unknown_senders == "public":
        return Principal(access=settings.access, unrestricted=False, client=client), ""
    return None, (f"the sender address {address} belongs to no account of this AutoDRM "
                  "([autodrm] unknown_senders = \"reject\"); ask the IDC for an account with this address")


def may_send_to(session, settings, principal, sender: str, target: str) -> bool:
    """Whether the answer of ``principal`` (From ``sender``) may go to ``target`` (``[autodrm]
    reply_redirect``). Public principals read public data only: any address."""
    from pipeline.store.accounts import account_email, state_has_active_email

    t = target.strip().lower()
    if t == sender.strip().lower() or not principal.authenticated or principal.role == "public":
        return True
    mode = settings.autodrm.reply_redirect
    if mode == "any":
        return True
    own = account_email(session, principal.user_id)
    if own.strip().lower() == t:
        return True
    if mode == "state" and principal.state_id is not None:
        return state_has_active_email(session, principal.state_id, t)
    return False


# --------------------------------------------------------------------------- messages
def _head(settings, seed: str, now: datetime, ref: str) -> list[str]:
    from pipeline.autodrm.response import _msg_id

    head = ["BEGIN IMS1.0", "MSG_TYPE DATA", f"MSG_ID {_msg_id(seed, now)} {settings.autodrm.source}"]
    return head + ([f"REF_ID {ref}"] if ref else [])


def _ref(req) -> str:
    return (f"{req.msg_id} {req.source}".strip()) if req is not None and req.msg_id else ""


def error_message(settings, errors: list[str], now: datetime, ref: str = "", seed: str = "") -> str:
    """A DATA message with only a ``DATA_TYPE ERROR_LOG`` section (``errors``, one entry each)."""
    from pipeline.io.ims1 import ims1_ascii

    head = _head(settings, seed or "\n".join(errors), now, ref)
    return ims1_ascii("\n".join(head) + "\nDATA_TYPE ERROR_LOG IMS1.0\n" + "\n".join(errors) + "\n\nSTOP\n",
                      keep_width=False)


def _sections(lines: list[str]) -> list[list[str]]:
    out: list[list[str]] = []
    for ln in lines:
        if ln.upper().startswith("DATA_TYPE") or not out:
            out.append([])
        out[-1].append(ln)
    return out


def _kind(datatype_line: str) -> str:
    w = datatype_line.split()
    return w[1].split(":")[0].upper() if len(w) > 1 else ""


def _records(sec: list[str]) -> tuple[list[str], list[list[str]], list[str] | None]:
    """``(preamble, records, continuation preamble)`` of one section; records are the units a
    section may be cut between (None = the section is never cut)."""
    kind = _kind(sec[0])
    if kind == "WAVEFORM":
        starts = [i for i, ln in enumerate(sec) if ln.startswith("WID2")]
        cont = [sec[0]]
    elif kind in BULLETIN_TYPES:
        starts = [i for i, ln in enumerate(sec) if ln.startswith("EVENT")]
        cont = [sec[0], sec[1] + CONTINUED] + sec[2:starts[0]] if starts and starts[0] >= 2 else None
    else:
        starts, cont = [], None
    if not starts or cont is None:
        return sec, [], None
    recs = [sec[a:b] for a, b in zip(starts, starts[1:] + [len(sec)])]
    return sec[:starts[0]], recs, cont


def _split_lines(text: str) -> tuple[list[str], list[str]]:
    lines = text.split("\n")
    i0 = next((i for i, ln in enumerate(lines) if ln.upper().startswith("DATA_TYPE")), None)
    j = max((i for i, ln in enumerate(lines) if ln.strip().upper() == "STOP"), default=None)
    if i0 is None or j is None or j < i0:
        raise ValueError("not a DATA message (no DATA_TYPE … STOP)")
    return lines[:i0], lines[i0:j]


def split_message(text: str, max_bytes: int) -> list[str]:
    """The DATA message ``text`` as complete messages of at most ``max_bytes`` bytes each (when
    no single uncut section or record is larger), with ``REF_ID … PART n OF m`` [REFERENCE §4.1];
    ``[text]`` when it fits."""
    if len(text.encode()) <= max_bytes:
        return [text]
    head, body = _split_lines(text)
    ref_i = next((i for i, ln in enumerate(head) if ln.upper().startswith("REF_ID")), None)
    if ref_i is not None:
        ref_line = head[ref_i]
        head = head[:ref_i] + head[ref_i + 1:]
    else:
        mid = next((ln.split()[1] for ln in head if ln.upper().startswith("MSG_ID") and len(ln.split()) > 1), "0")
        ref_line = f"REF_ID {mid}"
    fixed = len(("\n".join(head) + "\n" + ref_line + " PART 9999 OF 9999\nSTOP\n").encode())
    budget = max(1, max_bytes - fixed)
    size = lambda ls: sum(len(x.encode()) + 1 for x in ls)  # noqa: E731
    parts: list[list[str]] = []
    cur: list[str] = []
    for sec in _sections(body):
        pre, recs, cont = _records(sec)
        units = [pre + recs[0]] + recs[1:] if recs else [pre]
        for n, unit in enumerate(units):
            need = unit
            if cur and size(cur) + size(need) > budget:
                parts.append(cur)
                cur = []
            if not cur and n > 0:
                need = cont + unit
            cur += need
            if size(cur) > budget:
                log.warning("AutoDRM: part %d is %d bytes, over the limit of %d (one section or record "
                            "larger than the limit)", len(parts) + 1, size(cur) + fixed, max_bytes)
    if cur:
        parts.append(cur)
    m = len(parts)
    return ["\n".join(head + [f"{ref_line} PART {n} OF {m}"] + p + ["STOP", ""]) for n, p in enumerate(parts, 1)]


_PART = re.compile(r"^(REF_ID\s.*?)\s+PART\s+(\d+)\s+OF\s+(\d+)\s*$", re.I)


def join_parts(parts: list[str]) -> str:
    """The DATA message that :func:`split_message` cut into ``parts`` (any order)."""
    numbered = []
    for p in parts:
        head, body = _split_lines(p)
        hit = next(((i, _PART.match(ln)) for i, ln in enumerate(head) if _PART.match(ln)), None)
        if hit is None:
            if len(parts) == 1:
                return p
            raise ValueError("a part without 'REF_ID … PART n OF m'")
        i, mt = hit
        head = head[:i] + [mt.group(1)] + head[i + 1:]
        numbered.append((int(mt.group(2)), int(mt.group(3)), head, body))
    numbered.sort(key=lambda x: x[0])
    if [x[0] for x in numbered] != list(range(1, len(numbered) + 1)) or any(x[1] != len(numbered) for x in numbered):
        raise ValueError(f"parts {[x[0] for x in numbered]} of {numbered[0][1]}: incomplete or mixed")
    out_head, out = numbered[0][2], list(numbered[0][3])
    for _, _, _, body in numbered[1:]:
        last_dt = next((ln for ln in reversed(out) if ln.upper().startswith("DATA_TYPE")), None)
        if body and body[0] == last_dt:
            kind = _kind(body[0])
            if kind == "WAVEFORM" and out and out[-1] != "":
                body = body[1:]
            elif kind in BULLETIN_TYPES and len(body) > 1 and body[1].endswith(CONTINUED):
                body = body[next(i for i, ln in enumerate(body) if ln.startswith("EVENT")):]
        out += body
    return "\n".join(out_head + out + ["STOP", ""])


# --------------------------------------------------------------------------- sending
def _mail_from(settings) -> str:
    return settings.autodrm.mail_from or settings.subscriptions.mail_from


def compose(settings, inc: Incoming, to: str, subject: str, body: str) -> EmailMessage:
    """One answer e-mail: text/plain UTF-8, 7bit when every line fits SMTP's 998 (else
    quoted-printable), In-Reply-To/References from the request's Message-ID."""
    frm = _mail_from(settings)
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-ID"] = make_msgid("autodrm", domain=frm.rpartition("@")[2] or "idc-pipeline")
    if inc.message_id:
        msg["In-Reply-To"] = inc.message_id
        msg["References"] = f"{inc.references} {inc.message_id}".strip()
    msg["Auto-Submitted"] = "auto-replied"
    from pipeline.io.ims1 import ims1_ascii

    body = ims1_ascii(body, keep_width=False)  # every AutoDRM mail is an IMS1.0 message: ASCII
    plain = max((len(x) for x in body.split("\n")), default=0) <= 998
    msg.set_content(body, subtype="plain", charset="utf-8", cte="7bit" if plain else "quoted-printable")
    return msg


def send_all(settings, mails: list[EmailMessage]) -> int:
    """Send ``mails`` in one SMTP session (server: ``[subscriptions] smtp_*``); bytes sent.
    :class:`MailError` (``transient`` for 4xx and connection problems)."""
    from pipeline.distribution.deliver import smtp_session

    cfg = settings.subscriptions
    n = 0
    try:
        with smtp_session(cfg) as s:
            for m in mails:
                s.send_message(m)
                n += len(m.as_bytes())
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [c for c, _ in exc.recipients.values()]
        raise MailError(f"SMTP refused the recipients {exc.recipients!r}",
                        transient=any(c < 500 for c in codes)) from None
    except smtplib.SMTPResponseException as exc:
        raise MailError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", transient=exc.smtp_code < 500) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"{type(exc).__name__}: {exc} (SMTP {cfg.smtp_host}:{cfg.smtp_port})", transient=True) from None
    return n


def ftp_dir(settings) -> Path:
    d = settings.autodrm.ftp_dir
    if not d:
        return settings.home / "autodrm" / "ftp"
    p = Path(d)
    return p if p.is_absolute() else settings.home / p


def ftp_log_message(settings, answer: str, fname: str, now: datetime, ref: str) -> str:
    """``DATA_TYPE FTP_LOG`` with ``FTP_FILE <host> <USER|GUEST> <directory> <file>`` (GSE2.1
    reference example; pyrocko ``FTPFile``), plus a copy of the answer's ERROR_LOG if any."""
    from pipeline.autodrm.response import split_sections

    cfg = settings.autodrm
    directory = cfg.ftp_directory or str(ftp_dir(settings))
    head = _head(settings, answer + fname, now, ref)
    body = f"DATA_TYPE FTP_LOG IMS1.0\nFTP_FILE {cfg.ftp_host} {cfg.ftp_login} {directory} {fname}\n\n"
    for k, secs in split_sections(answer).items():
        if k.upper().startswith("DATA_TYPE ERROR_LOG"):
            body += "".join(s.rstrip("\n") + "\n\n" for s in secs)
    from pipeline.io.ims1 import ims1_ascii

    return ims1_ascii("\n".join(head) + "\n" + body + "STOP\n", keep_width=False)


# --------------------------------------------------------------------------- the log
def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _claim(url: str, inc: Incoming) -> tuple[bool, str]:
    """Take the message for answering: ``(True, previous status)``, or ``(False, status)`` when
    it was answered (or is being answered) already."""
    from pipeline.store.autodrm import claim_message

    return claim_message(url, inc.key, message_id=inc.message_id, sender=inc.sender, subject=inc.subject,
                         now=_utcnow(), stale_s=STALE_CLAIM_S)


def _finish(url: str, key: str, **values) -> None:
    from pipeline.store.autodrm import update_message

    for k, n in (("sender", 200), ("user_name", 64), ("role", 20), ("state", 8), ("request_id", 64),
                 ("reply_to", 200), ("products", 100), ("file", 500)):
        if k in values and values[k] is not None:
            values[k] = str(values[k])[:n]
    update_message(url, key, **values)


def _audit(settings, principal, inc: Incoming, status: int, nbytes: int, ms: float) -> None:
    if not settings.access.audit:
        return
    try:
        from pipeline.store.audit import write_audit_row

        p = principal
        row = {"user_name": (p.name if p else "(refused)")[:64], "state": p.state if p else "",
               "role": p.role if p else "", "client": f"mail:{inc.sender}"[:64], "method": "SMTP",
               "endpoint": "autodrm/mail", "product": ",".join(p.products)[:100] if p else "",
               "query": (inc.text or "")[:2000], "status": status, "bytes": nbytes, "duration_ms": round(ms, 3),
               "created": _utcnow()}
        write_audit_row(settings.database_url, row)
    except Exception as exc:  # the audit never stops an answer; logged
        log.warning("download audit of an AutoDRM e-mail not written: %s", exc)


def message_log(settings, limit: int = 50) -> list[dict]:
    """The newest ``limit`` rows of the e-mail log, newest first."""
    from pipeline.store import autodrm as log_table
    from pipeline.store.db import ensure_schema

    ensure_schema(settings.database_url)
    return log_table.message_log(settings.database_url, limit)


# --------------------------------------------------------------------------- one message
def _quote(text: str | None, keywords: tuple[str, ...]) -> str:
    for n, ln in enumerate((text or "").split("\n"), 1):
        w = ln.split()
        if w and w[0].upper() in keywords:
            return f"line {n}: {ln.strip()}"
    return "message"


def process_message(settings, raw: bytes, *, now: datetime | None = None, inventory=None) -> Outcome:
    """Answer one e-mail (see the module docstring); never raises for bad input."""
    from pipeline.store.db import ensure_schema

    url = settings.database_url
    ensure_schema(url)
    try:
        inc = read_message(raw)
    except Exception as exc:  # the email package is lenient; a last resort, recorded as the message's problem
        inc = Incoming(key=hashlib.sha256(raw).hexdigest(), problem=f"unreadable e-mail: {exc}")
    ok, before = _claim(url, inc)
    if not ok:
        return Outcome(inc.key, "duplicate", sender=inc.sender, error=f"already {before}")
    t0 = time.perf_counter()
    principal = None
    try:
        if inc.skip:
            log.info("AutoDRM: not answering %s: %s", inc.message_id or inc.key[:12], inc.skip)
            _finish(url, inc.key, status="ignored", error=inc.skip, answer="none")
            return Outcome(inc.key, "ignored", sender=inc.sender, error=inc.skip)
        if not inc.sender:
            raise _Hard("no From address: nobody to answer")
        if inc.sender.lower() == (_address(_mail_from(settings)) or _mail_from(settings)).strip().lower():
            _finish(url, inc.key, status="ignored", error="from our own address (mail loop)", answer="none")
            return Outcome(inc.key, "ignored", sender=inc.sender, error="mail loop")
        out = _answer(settings, inc, now or _utcnow(), inventory)
        principal = out.pop("principal")
    except _Unregistered as exc:
        # no reply at all: the From address may be forged, and an ERROR_LOG to it would be backscatter
        _finish(url, inc.key, status="ignored", error=str(exc), answer="none")
        _audit(settings, None, inc, 403, 0, (time.perf_counter() - t0) * 1000.0)
        log.warning("AutoDRM: not answering %s: %s", inc.message_id or inc.key[:12], exc)
        return Outcome(inc.key, "ignored", sender=inc.sender, answer="none", error=str(exc))
    except _Hard as exc:
        _finish(url, inc.key, status="failed", error=str(exc))
        log.error("AutoDRM: message %s not answered: %s", inc.message_id or inc.key[:12], exc)
        return Outcome(inc.key, "failed", sender=inc.sender, error=str(exc))
    except Exception as exc:  # one message never stops the mailbox: logged with its id, recorded as failed
        log.exception("AutoDRM: answering message %s failed", inc.message_id or inc.key[:12])
        err = f"internal error: {type(exc).__name__}: {exc}"
        _finish(url, inc.key, status="failed", error=err)
        return Outcome(inc.key, "failed", sender=inc.sender, error=err)
    res = Outcome(inc.key, "sent", sender=inc.sender, user=principal.name if principal and principal.authenticated
                  else "", reply_to=out["to"], channel=out["channel"], answer=out["answer"],
                  parts=len(out["mails"]), bytes=out["bytes"], file=out.get("file", ""), error=out.get("note", ""),
                  messages=out["mails"])
    row = dict(user_name=res.user, role=principal.role if principal else "", state=principal.state if principal else "",
               request_id=out["request_id"], reply_to=res.reply_to, channel=res.channel, answer=res.answer,
               products=",".join(principal.products) if principal else "", bytes=res.bytes, parts=res.parts,
               file=res.file)
    try:
        send_all(settings, out["mails"])
    except MailError as exc:
        res.status, res.error = ("retry" if exc.transient else "failed"), str(exc)
        _finish(url, inc.key, status=res.status, error=res.error, **row)
        log.warning("AutoDRM: answer to %s not sent (%s): %s", res.reply_to, res.status, exc)
        return res
    _finish(url, inc.key, status="sent", error=res.error, answered=_utcnow(), **row)
    _audit(settings, principal, inc, 403 if res.answer == "refused" else 200, res.bytes,
           (time.perf_counter() - t0) * 1000.0)
    log.info("AutoDRM: answered %s from %s (%s) to %s: %s, %d part(s), %d bytes", inc.message_id or inc.key[:12],
             inc.sender, res.user or "unknown", res.reply_to, res.answer, res.parts, res.bytes)
    return res


class _Hard(Exception):
    """The message cannot be answered at all."""


class _Unregistered(Exception):
    """The sender is no account's address (and ``unknown_senders = "reject"``): not answered."""


def _registered(session, address: str) -> bool:
    """Whether ``address`` is the e-mail address of an account (active or not)."""
    from pipeline.store.accounts import email_registered

    return email_registered(session, address)


def _answer(settings, inc: Incoming, now: datetime, inventory) -> dict:
    """The answer e-mails of ``inc`` (not sent yet) and what the log row needs."""
    from pipeline.autodrm import answer_request, parse_request
    from pipeline.accounts.policy import authorizer
    from pipeline.store.db import session_scope

    cfg = settings.autodrm
    req = None
    if inc.text is not None:
        req = parse_request(inc.text, cfg.default_bulletin, cfg.default_waveform_format, cfg.max_request_lines)
    ref = _ref(req)
    subject_help = inc.subject.strip().upper() == "HELP"
    note = ""
    with session_scope(settings.database_url) as s:
        principal, refusal = sender_principal(s, settings, inc.sender)
        if principal is None and not _registered(s, inc.sender):
            raise _Unregistered(f"sender {inc.sender} is not the address of an account (From addresses can be "
                                "forged; [autodrm] unknown_senders = \"reject\"): logged, no reply")
        to, channel, answer = inc.sender, "email", ""
        if refusal:
            text, answer = error_message(settings, [f"message: {refusal}. The request was not processed."],
                                         now, ref, seed=inc.key), "refused"
        else:
            want = req.reply if (req is not None and req.reply and not subject_help) else ""
            if want and not may_send_to(s, settings, principal, inc.sender, want):
                where = _quote(inc.text, ("E-MAIL", "EMAIL", "FTP"))
                text = error_message(settings, [
                    f"{where}\n    -> the answer of account {principal.name!r} may go only to "
                    + ("its own address" if cfg.reply_redirect == "account" else
                       "addresses of accounts of its State" if principal.state_id is not None else "its own address")
                    + f" ([autodrm] reply_redirect = \"{cfg.reply_redirect}\"), not to {want}.",
                    "The request was not processed; send it again without this line or from that address."],
                    now, ref, seed=inc.key)
                answer = "refused"
            else:
                if want:
                    to = want
                elif inc.reply_to:
                    if may_send_to(s, settings, principal, inc.sender, inc.reply_to):
                        to = inc.reply_to
                    else:
                        note = f"Reply-To {inc.reply_to} not allowed for this account: answered to From"
                if inc.problem:
                    text, answer = error_message(settings, [f"message: {inc.problem}."], now, seed=inc.key), "error_log"
                else:
                    body = "HELP\n" if subject_help else inc.text
                    text = answer_request(settings, body, now, inventory, authorizer(principal))
                    answer = "help" if subject_help or (req is not None and req.help and not req.requests) else (
                        "error_log" if "\nDATA_TYPE ERROR_LOG" in text else "data")
                    if req is not None and req.reply_kind == "FTP" and not req.problems and not subject_help:
                        channel = "ftp"
    request_id = req.msg_id if req is not None else ""
    subject = (inc.subject if inc.subject.lower().startswith("re:") else f"Re: {inc.subject}") if inc.subject \
        else f"IMS1.0 response to {request_id or 'your message'}"
    out = {"principal": principal, "to": to, "channel": channel, "answer": answer, "request_id": request_id,
           "bytes": len(text.encode()), "note": note}
    if channel == "ftp":
        d = ftp_dir(settings)
        d.mkdir(parents=True, exist_ok=True)
        mid = text.split("\n", 3)[2].split()[1]
        fname = f"{mid}_{secrets.token_hex(6)}.msg"  # random: names cannot be guessed
        path = d / fname
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        out["file"] = str(path)
        out["mails"] = [compose(settings, inc, to, subject, ftp_log_message(settings, text, fname, now, ref))]
        return out
    parts = split_message(text, cfg.max_email_bytes)
    m = len(parts)
    out["mails"] = [compose(settings, inc, to, subject + (f" (part {n} of {m})" if m > 1 else ""), p)
                    for n, p in enumerate(parts, 1)]
    return out


# --------------------------------------------------------------------------- Maildir and files
def _maildir_move(src: Path, folder: Path, flags: str) -> Path:
    base = src.name.split(":", 1)[0]
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    dst = folder / ("cur" if flags is not None else "new") / (base + (f":2,{flags}" if flags is not None else ""))
    os.replace(src, dst)
    return dst


def process_maildir(settings, path, *, now: datetime | None = None, inventory=None) -> list[tuple[str, Outcome]]:
    """Answer every message in ``path/new``: answered (also duplicates and ignored ones) → ``cur/``
    with flag ``S`` (seen); failed hard → Maildir++ folder ``.failed`` (unseen, reason in the log);
    a transient SMTP failure leaves the message in ``new/`` for the next run."""
    root = Path(path)
    if not (root / "new").is_dir() or not (root / "cur").is_dir():
        raise FileNotFoundError(f"{root}: not a Maildir (needs new/ and cur/ folders)")
    results = []
    for f in sorted(p for p in (root / "new").iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            raw = f.read_bytes()
        except OSError as exc:
            log.error("AutoDRM: cannot read %s: %s", f, exc)
            continue
        res = process_message(settings, raw, now=now, inventory=inventory)
        if res.status == "duplicate" and res.error == "already answering":
            results.append((f.name, res))
            continue  # another run is answering it right now and will move it
        try:
            if res.status in ("sent", "duplicate", "ignored"):
                _maildir_move(f, root, "S")
                dst = None
            elif res.status == "failed":
                dst = _maildir_move(f, root / ".failed", None)
            else:
                dst = None
        except FileNotFoundError:  # moved by a concurrent run meanwhile
            dst = None
        if res.status == "failed" and dst is not None:
            failed = root / ".failed"
            (failed / "maildirfolder").touch()
            res.file = str(dst)
            _finish(settings.database_url, res.key, file=str(dst))
            log.error("AutoDRM: %s moved to %s: %s", f.name, dst, res.error)
        results.append((f.name, res))
    return results


def keep_failed(settings, raw: bytes, res: Outcome) -> Path:
    """Keep a piped message that failed hard in ``$IDC_HOME/autodrm/failed/`` (and name it in the log)."""
    d = settings.home / "autodrm" / "failed"
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{_utcnow().strftime('%Y%m%dT%H%M%S')}_{res.key[:16]}.eml"
    p.write_bytes(raw)
    res.file = str(p)
    _finish(settings.database_url, res.key, file=str(p))
    return p


def exit_status(outcomes) -> int:
    """sysexits code of a run: 65 when a message failed hard, else 75 when one must be retried."""
    st = {o.status for o in outcomes}
    return EX_DATAERR if "failed" in st else EX_TEMPFAIL if "retry" in st else EX_OK
