"""The AutoDRM's e-mail path (pipeline/autodrm/mail.py): request e-mails in, answers out through a
real local SMTP server (tests/servers.py).

Store as in tests/test_autodrm.py: Iceland waveforms (Z7, 2014-08-24) in the SDS archive with their
StationXML, and the IDC's 1995 REB in two versions. Access policy: the [access] defaults of
config/default.toml (REB and waveforms for States; the public gets the public part of the REB).
Every answer is compared with what :func:`pipeline.autodrm.answer_request` gives for the principal
the sender should be (built here independently, as an HTTP token would give it), and read back by
obspy (bulletins, GSE2 waveforms).
"""
from __future__ import annotations

import email.policy
import io
import re
import tomllib
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import pytest
from click.testing import CliRunner
from obspy import read, read_events
from sqlalchemy import select

from pipeline import tasks
from pipeline.store.accounts import add_state, add_user
from pipeline.autodrm import answer_request, split_sections
from pipeline.autodrm import mail
from pipeline.autodrm.response import HELP_TEXT
from pipeline.service.auth import Principal
from pipeline.service.autodrm import policy_hook
from pipeline.settings import DEFAULT_CONFIG
from pipeline.store import db
from pipeline.store import models as m
from tests.conftest import make_settings
from tests.servers import SMTPTestServer, free_port
from tests.test_autodrm import WF_T1, WF_T2, reb_events
from tests.test_service_fdsn import FUR, ICELAND, REB1, REB2, Z7, store_reb

DEFAULT_ACCESS = tomllib.loads(DEFAULT_CONFIG.read_text())["access"]
NOW = datetime(2026, 11, 21, 12, 0, 0, tzinfo=timezone.utc)
NDC = "NDC-Analyst@Example.DE"          # de_ndc's address as stored (mixed case)
COLLEAGUE = "colleague@example.de"      # another account of State DE
STAFF = "analyst@idc.example"
WF_TIME = f"TIME {WF_T1.strftime('%Y/%m/%d %H:%M:%S')} TO {WF_T2.strftime('%Y/%m/%d %H:%M:%S')}"


def request(*lines: str, msg_id: str = "mail01 DE_NDC") -> str:
    return "\n".join(["BEGIN IMS1.0", "MSG_TYPE REQUEST", f"MSG_ID {msg_id}", *lines, "STOP", ""])


def email_bytes(body: str | None, frm: str = NDC.lower(), subject: str = "data request", *, mid: bool = True,
                reply_to: str = "", html: bool = False, extra: dict | None = None,
                cte: str = "quoted-printable") -> bytes:
    """An RFC 5322 message as a mail client sends it: quoted-printable text, CRLF line ends."""
    msg = EmailMessage()
    if frm:
        msg["From"] = f"Requester <{frm}>"
    msg["To"] = "autodrm@idc.example"
    msg["Subject"] = subject
    msg["Date"] = formatdate(1763726400, usegmt=True)
    if mid:
        msg["Message-ID"] = make_msgid("req", domain="example.de")
    if reply_to:
        msg["Reply-To"] = reply_to
    for k, v in (extra or {}).items():
        msg[k] = v
    if html:
        msg.set_content(f"<html><body><pre>{body}</pre></body></html>", subtype="html")
    elif body is not None:
        msg.set_content(body, cte=cte)
    return msg.as_bytes(policy=email.policy.SMTP)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    s = make_settings(tmp_path_factory.mktemp("autodrm_mail"))
    db.upgrade(s.database_url)
    tasks.load_stations(s, [str(Z7), str(FUR)])
    assert tasks.ingest_files(s, ICELAND, progress=False)["accepted"] == len(ICELAND)
    assert store_reb(s, REB1, "reb-v1") == (1, True)
    assert store_reb(s, REB2, "reb-v2") == (2, True)
    with db.session_scope(s.database_url) as ss:
        add_state(ss, "DE", "Germany")
        add_user(ss, "de_ndc", "state_user", "DE", email=NDC)
        add_user(ss, "de_other", "state_user", "DE", email=COLLEAGUE)
        add_user(ss, "ana", "analyst", email=STAFF)
        add_user(ss, "gone", "state_user", "DE", email="gone@example.de")
        ss.scalar(select(m.UserAccount).where(m.UserAccount.name == "gone")).active = False
    return s.home, tasks.station_inventory(s)


@pytest.fixture
def smtp():
    with SMTPTestServer() as server:
        yield server


def settings_for(home, smtp_port: int, **over):
    base = {"access": DEFAULT_ACCESS, "autodrm.max_waveform_channel_seconds": 3600.0,
            "subscriptions.smtp_port": smtp_port, "subscriptions.timeout_s": 5.0,
            "autodrm.mail_from": "autodrm@idc.example"}
    base.update(over)
    return make_settings(home[0], **base)


def principal_of(s, name, role, state="", user_id=None, state_id=None):
    """The principal an HTTP token of the account gives (pipeline.service.auth.current_principal)."""
    return Principal(name=name, roles=(role,), state=state, unrestricted=False, user_id=user_id, state_id=state_id,
                     access=s.access)


def account_ids(s, name):
    with db.session_scope(s.database_url) as ss:
        u = ss.scalar(select(m.UserAccount).where(m.UserAccount.name == name))
        return u.id, u.state_id


def body_of(msg) -> str:
    return msg.get_content().replace("\r\n", "\n")


def no_msg_id(text: str) -> str:
    """``text`` with its MSG_ID lines blanked: every IMS1.0 message gets a new, unique MSG_ID,
    so two answers to one request differ there only."""
    return re.sub(r"(?m)^MSG_ID \S+", "MSG_ID *", text)


def sections(text: str, prefix: str) -> list[str]:
    return [t for k, v in split_sections(text).items() if k.startswith(prefix) for t in v]


def log_rows(s):
    with db.session_scope(s.database_url) as ss:
        return {r.message_id: r for r in ss.scalars(select(m.AutoDRMMessage))}


# --------------------------------------------------------------------------- who asks, where it goes
def test_state_user_bulletin_answered_as_its_account(home, smtp):
    s = settings_for(home, smtp.port)
    text = request("TIME 1995/01/16 TO 1995/01/17", "BULL_TYPE IDC_REB", "BULLETIN IMS1.0")
    raw = email_bytes(text)
    res = mail.process_message(s, raw, now=NOW, inventory=home[1])
    assert (res.status, res.user, res.answer, res.parts) == ("sent", "de_ndc", "data", 1)
    assert len(smtp.messages) == 1
    env_from, rcpts, reply = smtp.messages[0]
    assert rcpts == [NDC.lower()] and env_from == "autodrm@idc.example" and reply["To"] == NDC.lower()
    sent = email.message_from_bytes(raw, policy=email.policy.default)
    assert reply["Subject"] == "Re: data request"
    assert reply["In-Reply-To"] == sent["Message-ID"] and sent["Message-ID"] in reply["References"]
    assert reply["Auto-Submitted"] == "auto-replied" and reply.get_content_type() == "text/plain"
    # the body is what answer_request gives for de_ndc's principal (role state_user, State DE)
    uid, sid = account_ids(s, "de_ndc")
    want = answer_request(s, text, NOW, home[1], policy_hook(principal_of(s, "de_ndc", "state_user", "DE", uid, sid)))
    assert no_msg_id(body_of(reply)) == no_msg_id(want)
    # ... which is the whole REB (2 events); the public would get its public part only (1 event)
    assert len(read_events(io.BytesIO(body_of(reply).encode()), format="IMS10BULLETIN")) == 2 == len(reb_events(s))
    public = answer_request(s, text, NOW, home[1], policy_hook(principal_of(s, "public", "public")))
    assert len(read_events(io.BytesIO(public.encode()), format="IMS10BULLETIN")) == 1
    row = log_rows(s)[sent["Message-ID"]]
    assert (row.status, row.user_name, row.role, row.state, row.request_id, row.reply_to, row.parts) == \
        ("sent", "de_ndc", "state_user", "DE", "mail01", NDC.lower(), 1)
    assert row.bytes == len(want.encode()) and row.products == "REB"
    with db.session_scope(s.database_url) as ss:  # and the download audit, as for HTTP
        a = ss.scalars(select(m.DownloadAudit).where(m.DownloadAudit.method == "SMTP")).all()
    assert [(x.user_name, x.state, x.endpoint, x.product, x.bytes) for x in a] == \
        [("de_ndc", "DE", "autodrm/mail", "REB", len(want.encode()))]


def test_email_line_and_reply_to_redirect_within_the_rules(home, smtp):
    s = settings_for(home, smtp.port)
    # E-MAIL line to a colleague of the same State: the answer goes there
    res = mail.process_message(s, email_bytes(request(f"E-MAIL {COLLEAGUE}", "STATION", msg_id="r1")), now=NOW)
    assert (res.status, res.reply_to, res.answer) == ("sent", COLLEAGUE, "data")
    assert smtp.messages[-1][1] == [COLLEAGUE] and "DATA_TYPE STATION IMS1.0" in body_of(smtp.messages[-1][2])
    # E-MAIL line to an outsider (a forged From would leak State data): refused, ERROR_LOG to From
    res = mail.process_message(s, email_bytes(request("E-MAIL thief@evil.example", "STATION", msg_id="r2")), now=NOW)
    assert (res.status, res.answer, res.reply_to) == ("sent", "refused", NDC.lower())
    body = body_of(smtp.messages[-1][2])
    assert smtp.messages[-1][1] == [NDC.lower()] and "DATA_TYPE STATION" not in body
    err = sections(body, "DATA_TYPE ERROR_LOG")[0]
    assert "line 4: E-MAIL thief@evil.example" in err and "reply_redirect" in err and "\nREF_ID r2\n" in body
    # ... allowed with reply_redirect = "any"
    s_any = settings_for(home, smtp.port, **{"autodrm.reply_redirect": "any"})
    res = mail.process_message(s_any, email_bytes(request("E-MAIL thief@evil.example", "STATION", msg_id="r3")),
                               now=NOW)
    assert (res.reply_to, res.answer) == ("thief@evil.example", "data")
    # Reply-To to a colleague is followed; to an outsider it is ignored (answer to From)
    res = mail.process_message(s, email_bytes(request("STATION", msg_id="r4"), reply_to=COLLEAGUE.upper()), now=NOW)
    assert res.reply_to == COLLEAGUE.upper()
    res = mail.process_message(s, email_bytes(request("STATION", msg_id="r5"), reply_to="x@evil.example"), now=NOW)
    assert res.reply_to == NDC.lower() and "Reply-To x@evil.example not allowed" in res.error
    # IDC staff (no State) with reply_redirect = "state": own address only
    res = mail.process_message(s, email_bytes(request(f"E-MAIL {COLLEAGUE}", "STATION", msg_id="r6"), frm=STAFF),
                               now=NOW)
    assert (res.user, res.answer) == ("ana", "refused")


def test_help_subject_and_help_body(home, smtp):
    s = settings_for(home, smtp.port)
    res = mail.process_message(s, email_bytes("please send me the manual", subject="HELP"), now=NOW)
    assert (res.status, res.answer) == ("sent", "help")
    body = body_of(smtp.messages[-1][2])
    assert no_msg_id(body) == no_msg_id(answer_request(s, "HELP\n", NOW))
    assert HELP_TEXT.strip() in body and "Environment: TIME" in body and "WAVEFORM" in body
    res = mail.process_message(s, email_bytes("HELP\n", subject="question"), now=NOW)
    assert res.answer == "help" and HELP_TEXT.strip() in body_of(smtp.messages[-1][2])


def test_unknown_sender_not_answered_by_default_or_answered_as_public(home, smtp, caplog):
    text = request("TIME 1995/01/16 TO 1995/01/17", "BULLETIN IMS1.0", WF_TIME, "STA_LIST KVER", "CHAN_LIST HHZ",
                   "WAVEFORM IMS1.0:CM6", msg_id="pub1")
    s = settings_for(home, smtp.port)
    assert s.autodrm.unknown_senders == "reject" and s.access.audit  # the documented defaults
    sent_before = len(smtp.messages)
    # an unknown (possibly forged) From address: no reply at all (an ERROR_LOG would be backscatter),
    # but logged, recorded and audited
    raw = email_bytes(text, frm="someone@elsewhere.example", subject="forged?")
    with caplog.at_level("WARNING", logger="pipeline.autodrm.mail"):
        res = mail.process_message(s, raw, now=NOW)
    assert (res.status, res.answer, res.user, res.messages) == ("ignored", "none", "", [])
    assert len(smtp.messages) == sent_before  # nothing went out
    assert "someone@elsewhere.example is not the address of an account" in caplog.text
    row = next(r for r in log_rows(s).values() if r.subject == "forged?")
    assert (row.status, row.answer, row.sender) == ("ignored", "none", "someone@elsewhere.example")
    assert "not the address of an account" in row.error
    with db.session_scope(s.database_url) as ss:
        audit = ss.scalars(select(m.DownloadAudit).where(m.DownloadAudit.client == "mail:someone@elsewhere.example")
                           ).all()
    assert [a.status for a in audit] == [403]
    assert mail.exit_status([res]) == mail.EX_OK  # handled: the MTA must not retry or bounce it
    # a registered but disabled account still gets its ERROR_LOG (not downgraded to public)
    res = mail.process_message(s, email_bytes(text, frm="GONE@example.de"), now=NOW)
    assert (res.status, res.answer, res.reply_to) == ("sent", "refused", "GONE@example.de")
    body = body_of(smtp.messages[-1][2])
    assert "disabled" in sections(body, "DATA_TYPE ERROR_LOG")[0] and "REF_ID pub1" in body
    assert "BULLETIN" not in body.split("ERROR_LOG", 1)[1]
    # unknown_senders = "public": the public part of the REB, and the WAVEFORM line refused by name
    sp = settings_for(home, smtp.port, **{"autodrm.unknown_senders": "public"})
    res = mail.process_message(sp, email_bytes(text, frm="someone@elsewhere.example", subject="again"), now=NOW)
    assert (res.status, res.answer, res.user) == ("sent", "error_log", "")
    body = body_of(smtp.messages[-1][2])
    assert no_msg_id(body) == no_msg_id(answer_request(sp, text, NOW, None,
                                                      policy_hook(principal_of(sp, "public", "public"))))
    err = sections(body, "DATA_TYPE ERROR_LOG")[0]
    assert "line 9: WAVEFORM IMS1.0:CM6" in err and "not allowed" in err and "WID2" not in body
    assert len(read_events(io.BytesIO(sections(body, "DATA_TYPE BULLETIN")[0].join(
        ["BEGIN IMS1.0\nMSG_TYPE DATA\nMSG_ID x\n", "STOP\n"]).encode()), format="IMS10BULLETIN")) == 1


# --------------------------------------------------------------------------- size: parts and FTP
@pytest.mark.filterwarnings("ignore:Checksum differs only in absolute value")
def test_large_waveform_answer_split_into_parts_that_reassemble(home, smtp):
    s = settings_for(home, smtp.port, **{"autodrm.max_email_bytes": 10000})
    text = request(WF_TIME, "STA_LIST KVER, FJAS", "CHAN_LIST HH?", "WAVEFORM IMS1.0:CM6", msg_id="big1 DE_NDC")
    res = mail.process_message(s, email_bytes(text), now=NOW, inventory=home[1])
    uid, sid = account_ids(s, "de_ndc")
    full = answer_request(s, text, NOW, home[1], policy_hook(principal_of(s, "de_ndc", "state_user", "DE", uid, sid)))
    assert len(full.encode()) > 4 * 10000 and "ERROR_LOG" not in full
    m_parts = res.parts
    assert res.status == "sent" and m_parts == len(smtp.messages) >= 4
    bodies = [body_of(x[2]) for x in smtp.messages]
    for n, (b, x) in enumerate(zip(bodies, smtp.messages), 1):
        assert len(b.encode()) <= 10000
        assert f"\nREF_ID big1 DE_NDC PART {n} OF {m_parts}\n" in b and b.startswith("BEGIN IMS1.0\nMSG_TYPE DATA\n")
        assert b.endswith("STOP\n") and x[2]["Subject"] == f"Re: data request (part {n} of {m_parts})"
    # every part is a data message on its own: obspy's GSE2 reader reads its segments, checksums on
    traces = []
    for b in bodies:
        wf = sections(b, "DATA_TYPE WAVEFORM IMS1.0:CM6")
        if wf:
            traces += list(read(io.BytesIO(wf[0].encode()), format="GSE2", verify_chksum=True))
    want = read(io.BytesIO(sections(full, "DATA_TYPE WAVEFORM")[0].encode()), format="GSE2")
    assert [(t.id, t.stats.npts) for t in traces] == [(t.id, t.stats.npts) for t in want] and len(want) == 6
    # and the parts put together (in any order) are the whole answer, byte for byte
    assert no_msg_id(mail.join_parts(bodies[::-1])) == no_msg_id(full)


def test_bulletin_cut_between_events(home):
    s = make_settings(home[0])
    full = answer_request(s, request("TIME 1995/01/16 TO 1995/01/17", "BULLETIN IMS1.0", "EVENT", "STATION"), NOW)
    parts = mail.split_message(full, 2000)
    assert len(parts) >= 3 and all(len(p.encode()) <= 2000 for p in parts)
    got = []
    for p in parts:  # each part read by obspy on its own; a continued bulletin keeps its title line
        for sec in sections(p, "DATA_TYPE BULLETIN"):
            got += list(read_events(io.BytesIO(("BEGIN IMS1.0\nMSG_TYPE DATA\nMSG_ID x\n" + sec + "STOP\n").encode()),
                                    format="IMS10BULLETIN"))
    assert any("(continued)" in p for p in parts)
    assert [e.origins[0].time for e in got] == [e.preferred_origin().time for e in reb_events(s)]
    assert mail.join_parts(parts) == full
    assert mail.split_message(full, 10**6) == [full]


def test_ftp_line_writes_the_answer_and_mails_an_ftp_log(home, smtp, tmp_path):
    s = settings_for(home, smtp.port, **{"autodrm.ftp_dir": str(tmp_path / "ftp"),
                                         "autodrm.ftp_host": "ftp.idc.example", "autodrm.ftp_directory": "/pub/autodrm"})
    text = request(f"FTP {COLLEAGUE}", WF_TIME, "STA_LIST KVER", "CHAN_LIST HHZ", "WAVEFORM", msg_id="ftp1 DE_NDC")
    res = mail.process_message(s, email_bytes(text), now=NOW, inventory=home[1])
    assert (res.status, res.channel, res.reply_to, res.parts) == ("sent", "ftp", COLLEAGUE, 1)
    files = list((tmp_path / "ftp").iterdir())
    assert [str(f) for f in files] == [res.file]
    uid, sid = account_ids(s, "de_ndc")
    assert no_msg_id(files[0].read_text()) == no_msg_id(answer_request(
        s, text, NOW, home[1], policy_hook(principal_of(s, "de_ndc", "state_user", "DE", uid, sid))))
    body = body_of(smtp.messages[-1][2])
    assert smtp.messages[-1][1] == [COLLEAGUE] and "WID2" not in body and "REF_ID ftp1 DE_NDC" in body
    ftp_log = sections(body, "DATA_TYPE FTP_LOG IMS1.0")[0].splitlines()
    assert ftp_log[1] == f"FTP_FILE ftp.idc.example USER /pub/autodrm {files[0].name}"
    assert log_rows(s)[smtp.messages[-1][2]["In-Reply-To"]].file == res.file


# --------------------------------------------------------------------------- Maildir, pipe, failures
def _maildir(root):
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True)
    return root


def test_maildir_run_moves_messages_and_a_second_run_sends_nothing(home, smtp, tmp_path, monkeypatch):
    s = settings_for(home, smtp.port)
    md = _maildir(tmp_path / "Maildir")
    good = email_bytes(request("STATION", msg_id="md1"))
    (md / "new" / "1.good").write_bytes(good)
    (md / "new" / "2.html").write_bytes(email_bytes(request("STATION"), html=True, subject="html only"))
    (md / "new" / "3.prose").write_bytes(email_bytes("Dear IDC, please send the REB.\n", subject="prose"))
    (md / "new" / "4.nofrom").write_bytes(email_bytes(request("STATION"), frm="", subject="no from"))
    (md / "new" / "5.auto").write_bytes(email_bytes(request("STATION"), subject="auto",
                                                       extra={"Auto-Submitted": "auto-replied"}))
    monkeypatch.setenv("IDC_HOME", str(s.home))
    monkeypatch.setenv("IDC__SUBSCRIPTIONS__SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("IDC__AUTODRM__MAIL_FROM", "autodrm@idc.example")
    cfg = str(s.sources[-1])
    r = CliRunner().invoke(mail_cli(), ["--config", cfg, "autodrm", "mail", "--maildir", str(md)])
    assert r.exit_code == mail.EX_DATAERR, r.output  # one message could not be answered at all
    assert sorted(p.name for p in (md / "cur").iterdir()) == ["1.good:2,S", "2.html:2,S", "3.prose:2,S", "5.auto:2,S"]
    assert list((md / "new").iterdir()) == [] and [p.name for p in (md / ".failed" / "new").iterdir()] == ["4.nofrom"]
    assert (md / ".failed" / "maildirfolder").exists()
    assert len(smtp.messages) == 3  # good, html, prose; nothing to the auto-reply
    by_subject = {x[2]["Subject"]: body_of(x[2]) for x in smtp.messages}
    assert "DATA_TYPE STATION IMS1.0" in by_subject["Re: data request"]
    err = sections(by_subject["Re: html only"], "DATA_TYPE ERROR_LOG")[0]
    assert "no text/plain part (it has text/html)" in err
    err = sections(by_subject["Re: prose"], "DATA_TYPE ERROR_LOG")[0]
    assert "line 1: Dear IDC, please send the REB." in err and "starts with 'BEGIN IMS1.0'" in err
    ids = {email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Message-ID"]
           for d in ("cur", ".failed/new") for p in (md / d).iterdir() if p.is_file()}
    rows = {r.subject: r for k, r in log_rows(s).items() if k in ids}
    assert len(rows) == 5
    assert rows["data request"].status == "sent" and rows["html only"].answer == "error_log"
    assert rows["no from"].file.endswith(".failed/new/4.nofrom")
    assert rows["no from"].status == "failed" and "no From address" in rows["no from"].error
    assert rows["auto"].status == "ignored" and rows["auto"].error.startswith("Auto-Submitted: auto-replied")
    # the same message again (a re-delivery, a re-run): moved to cur/, no second answer
    (md / "new" / "6.again").write_bytes(good)
    r = CliRunner().invoke(mail_cli(), ["--config", cfg, "autodrm", "mail", "--maildir", str(md)])
    assert r.exit_code == 0 and "duplicate" in r.output and len(smtp.messages) == 3
    assert (md / "cur" / "6.again:2,S").exists()
    r = CliRunner().invoke(mail_cli(), ["--config", cfg, "autodrm", "log"])
    assert r.exit_code == 0 and "de_ndc" in r.output and "no From address" in r.output and "ignored" in r.output


def test_pipe_from_the_mta_idempotent_without_message_id(home, smtp, monkeypatch):
    s = settings_for(home, smtp.port)
    raw = email_bytes(request("CHANNEL", msg_id="pipe1"), mid=False, subject="piped", cte="base64")
    assert b"CHANNEL" not in raw  # base64 body
    monkeypatch.setenv("IDC_HOME", str(s.home))
    monkeypatch.setenv("IDC__SUBSCRIPTIONS__SMTP_PORT", str(smtp.port))
    args = ["--config", str(s.sources[-1]), "autodrm", "mail", "-"]
    r = CliRunner().invoke(mail_cli(), args, input=raw)
    assert r.exit_code == 0, r.output
    assert len(smtp.messages) == 1 and "DATA_TYPE CHANNEL IMS1.0" in body_of(smtp.messages[0][2])
    assert smtp.messages[0][2]["In-Reply-To"] is None  # the request had no Message-ID
    r = CliRunner().invoke(mail_cli(), args, input=raw)  # same content, no Message-ID: same content hash
    assert r.exit_code == 0 and "duplicate" in r.output and len(smtp.messages) == 1
    # a piped message nobody can be answered for is kept, the MTA told (EX_DATAERR: it bounces)
    bad = email_bytes(request("CHANNEL"), frm="", subject="anonymous")
    r = CliRunner().invoke(mail_cli(), args, input=bad)
    assert r.exit_code == mail.EX_DATAERR and "no From address" in r.output
    kept = list((s.home / "autodrm" / "failed").iterdir())
    assert [p.read_bytes() for p in kept] == [bad] and str(kept[0]) in r.output


def test_smtp_down_is_retried_later_then_answered_once(home, monkeypatch, tmp_path):
    port = free_port()
    s = settings_for(home, port)
    raw = email_bytes(request("STATION", msg_id="down1"))
    res = mail.process_message(s, raw, now=NOW)
    assert res.status == "retry" and "ConnectionRefusedError" in res.error
    assert mail.exit_status([res]) == mail.EX_TEMPFAIL  # Postfix keeps a piped message queued
    md = _maildir(tmp_path / "Maildir")
    (md / "new" / "1.down").write_bytes(raw)
    assert [r.status for _, r in mail.process_maildir(s, md, now=NOW)] == ["retry"]
    assert (md / "new" / "1.down").exists()  # stays for the next run
    with SMTPTestServer(port=port) as smtp:
        assert [r.status for _, r in mail.process_maildir(s, md, now=NOW)] == ["sent"]
        assert mail.process_message(s, raw, now=NOW).status == "duplicate"
        assert len(smtp.messages) == 1
    row = next(r for r in log_rows(s).values() if r.request_id == "down1")
    assert (row.status, row.attempts, row.error) == ("sent", 3, "")


def mail_cli():
    from pipeline.cli.main import cli

    return cli


@pytest.mark.postgres
def test_on_postgresql_sender_lookup_log_and_idempotence(pg_server, tmp_path, smtp):
    url = pg_server.create_database(f"autodrm_mail_{abs(hash(str(tmp_path))) % 10**9}")
    s = make_settings(tmp_path / "home", url, **{"access": DEFAULT_ACCESS, "subscriptions.smtp_port": smtp.port})
    db.upgrade(s.database_url)
    tasks.load_stations(s, [str(Z7)])
    with db.session_scope(s.database_url) as ss:
        add_state(ss, "DE", "Germany")
        add_user(ss, "de_ndc", "state_user", "DE", email=NDC)
    raw = email_bytes(request("STA_LIST KVER", "STATION", msg_id="pg1"))
    res = mail.process_message(s, raw, now=NOW)
    assert (res.status, res.user) == ("sent", "de_ndc")
    assert mail.process_message(s, raw, now=NOW).status == "duplicate" and len(smtp.messages) == 1
    sec = sections(body_of(smtp.messages[0][2]), "DATA_TYPE STATION")[0].splitlines()
    assert [ln.split()[:2] for ln in sec[2:] if ln.strip()] == [["Z7", "KVER"]]
    (row,) = mail.message_log(s)
    assert (row["status"], row["user_name"], row["request_id"], row["attempts"]) == ("sent", "de_ndc", "pg1", 1)
