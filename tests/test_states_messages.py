"""Messages to States (issue 14, defect 9): IMS1.0 messages are ASCII and each has its own MSG_ID;
a backfill of quiet windows does not flood a bulletin subscriber with empty bulletins.

The store holds the IDC's 1995 REB (GSE2.0, two events) as REB and SEL3 of 1995-01-16 and, for
the backfill, 18 SEL3 windows without events; e-mail goes to a real local SMTP server
(tests/servers.py).
"""
from __future__ import annotations

import io
import re
from datetime import datetime, timezone

import pytest
from obspy import Catalog, UTCDateTime, read_events
from obspy.core.event import EventDescription

from pipeline import tasks
from pipeline.store.accounts import add_state, add_user
from pipeline.autodrm import mail
from pipeline.autodrm.response import answer_request
from pipeline.bulletin.read import read_bulletin
from pipeline.distribution.deliver import deliver_product
from pipeline.distribution.subscriptions import SubscriptionError, add_subscription
from pipeline.io.ims1 import write_ims1
from pipeline.store import db
from pipeline.store.catalog import store_catalog
from pipeline.store.products import ProductKey, write_product
from tests.conftest import make_settings
from tests.servers import SMTPTestServer
from tests.test_service_fdsn import REB2, REB_WINDOW, Z7, store_reb

NOW = datetime(2025, 11, 21, 12, 0, tzinfo=timezone.utc)
DAY = 86400.0


def _msg_ids(text: str) -> list[str]:
    return re.findall(r"(?m)^MSG_ID (\S+)", text)


@pytest.fixture
def store(tmp_path):
    s = make_settings(tmp_path / "home", "", **{"subscriptions.backoff_initial_s": 0.01})
    s.home.mkdir(parents=True, exist_ok=True)
    db.upgrade(s.database_url)
    tasks.load_stations(s, [str(Z7)])
    assert store_reb(s, REB2, "v2") == (1, True)
    cat, _ = read_bulletin(REB2)
    w0, w1 = REB_WINDOW[0].timestamp, REB_WINDOW[1].timestamp
    with db.session_scope(s.database_url) as ss:
        write_product(ss, ProductKey("SEL3", w0, w1), input_fingerprint="f", config_hash="c", software_version="t",
                      fill=lambda ss, p: store_catalog(ss, p, cat))
        add_state(ss, "DE", "Germany")
        add_user(ss, "de_ndc", "state_user", "DE")
    return s


# --------------------------------------------------------------------------- ASCII and MSG_ID
def test_exported_bulletins_are_ascii_with_unique_msg_ids(store, tmp_path):
    """``idc export``/subscriptions/outbox: the title (it had an en dash, written as '?') and every
    other byte ASCII; two exports of one product are two messages with two MSG_IDs."""
    a, b = tmp_path / "a.ims1", tmp_path / "b.ims1"
    for out in (a, b):
        tasks.export_product(store, "REB", *REB_WINDOW, "ims1", out)
    ta, tb = a.read_bytes(), b.read_bytes()
    assert ta.isascii() and tb.isascii()
    title = ta.decode().splitlines()[4]
    assert title.startswith("REB of the idc-pipeline for 1995-01-16 00:00 - "), title
    assert "?" not in title
    ids = _msg_ids(ta.decode()) + _msg_ids(tb.decode())
    assert len(ids) == 2 and ids[0] != ids[1] and all(len(i) <= 20 for i in ids)
    assert len(read_events(str(a), format="IMS10BULLETIN")) == 2


def test_writer_turns_non_ascii_names_into_ascii_keeping_columns(store):
    cat, _ = read_bulletin(REB2)
    for ev in cat:
        ev.event_descriptions = [EventDescription(text="Island - Vatnajokull", type="region name")]
    plain = io.StringIO()
    write_ims1(cat, plain, title="x")
    for ev in cat:  # the region name as an analyst might type it
        ev.event_descriptions = [EventDescription(text="Ísland – Vatnajökull", type="region name")]
    buf = io.StringIO()
    write_ims1(cat, buf, title="Bulletin – “reviewed” ≥ 4")
    text = buf.getvalue()
    assert text.isascii(), [ln for ln in text.splitlines() if not ln.isascii()]
    assert "Island - Vatnajokull" in text and 'Bulletin - "reviewed" > 4' in text
    # fixed columns: the lines have the lengths of the plain message's lines
    assert [len(ln) for ln in text.splitlines()[5:]] == [len(ln) for ln in plain.getvalue().splitlines()[5:]]
    assert len(read_events(io.BytesIO(text.encode()), format="IMS10BULLETIN")) == 2


REQUESTS = {
    "bulletin": ["TIME 1995/01/16 TO 1995/01/17", "BULLETIN IMS1.0"],
    "event": ["TIME 1995/01/16 TO 1995/01/17", "EVENT IMS1.0"],
    "arrival": ["TIME 1995/01/16 TO 1995/01/17", "ARRIVAL:ASSOCIATED IMS1.0"],
    "sel3": ["TIME 1995/01/16 TO 1995/01/17", "BULLETIN IMS1.0", "SEL3"],
    "station": ["STA_LIST KVER", "STATION IMS1.0", "CHANNEL IMS1.0"],
    "outage": ["TIME 2014/08/24 TO 2014/08/24 00:10", "STA_LIST KVER", "OUTAGE IMS1.0"],
    "help": ["HELP"],
    "error": ["TIME 1995/01/16 – 1995/01/17", "BULLETIN IMS1.0 ≥"],
}


def test_every_autodrm_answer_is_ascii_with_its_own_msg_id(store):
    ids = []
    for name, lines in REQUESTS.items():
        text = "\n".join(["BEGIN IMS1.0", "MSG_TYPE REQUEST", f"MSG_ID {name} DE_NDC", *lines, "STOP", ""])
        for _ in range(2):  # the same request twice in one second: two messages, two ids
            ans = answer_request(store, text, NOW)
            assert ans.isascii(), (name, [ln for ln in ans.splitlines() if not ln.isascii()])
            ids += _msg_ids(ans)
    assert len(ids) == 2 * len(REQUESTS) == len(set(ids))
    # the e-mail path's own messages (ERROR_LOG, FTP_LOG)
    err = mail.error_message(store, ["line 3: TIME 1995/01/16 – 1995/01/17: expected 'TO'"], NOW)
    ftp = mail.ftp_log_message(store, "BEGIN IMS1.0\nDATA_TYPE ERROR_LOG IMS1.0\nbad ≥ line\n\nSTOP\n", "a.msg",
                               NOW, "r1 DE")
    assert err.isascii() and ftp.isascii()
    assert "TIME 1995/01/16 - 1995/01/17" in err and "bad >= line" in ftp
    assert len({*_msg_ids(err), *_msg_ids(ftp), *ids}) == len(ids) + 2


# --------------------------------------------------------------------------- empty bulletins
def _quiet_windows(s, n: int, start: float) -> list[tuple[float, float]]:
    wins = [(start + k * DAY, start + (k + 1) * DAY) for k in range(n)]
    with db.session_scope(s.database_url) as ss:
        for w in wins:
            write_product(ss, ProductKey("SEL3", *w), input_fingerprint="q", config_hash="c", software_version="t",
                          fill=lambda ss, p: store_catalog(ss, p, Catalog()))
    return wins


def test_backfill_of_quiet_windows_says_no_events_once(store):
    with SMTPTestServer() as smtp:
        s = make_settings(store.home, "", **{"subscriptions.smtp_port": smtp.port,
                                             "subscriptions.backoff_initial_s": 0.01})
        subs = {}
        with db.session_scope(s.database_url) as ss:
            for mode in ("default", "once", "skip", "each"):
                f = {} if mode == "default" else {"empty": mode}
                subs[mode] = add_subscription(ss, "de_ndc", "bulletin", ["SEL3"], "email", f"{mode}@example.de", f).id
            with pytest.raises(SubscriptionError, match="'empty'"):
                add_subscription(ss, "de_ndc", "bulletin", ["SEL3"], "email", "x@example.de", {"empty": "never"})
            with pytest.raises(SubscriptionError, match="bulletin subscriptions only"):
                add_subscription(ss, "de_ndc", "alert", ["SEL3"], "email", "x@example.de", {"empty": "skip"})
        w_end = REB_WINDOW[1].timestamp
        quiet = _quiet_windows(s, 18, w_end)  # the backfill: 18 days without events
        for w in quiet:
            deliver_product(s, "SEL3", UTCDateTime(w[0]), UTCDateTime(w[1]), sleep=lambda t: None)

        def to(addr):
            return [msg for _, rcpts, msg in smtp.messages if rcpts == [addr]]

        for mode in ("default", "once"):
            got = to(f"{mode}@example.de")
            assert len(got) == 1, (mode, [m["Subject"] for m in got])
            assert got[0]["Subject"].endswith("no events") and not list(got[0].iter_attachments())
            assert "holds no events" in got[0].get_content()
        assert to("skip@example.de") == []
        each = to("each@example.de")
        assert len(each) == 18 and all(len(list(m.iter_attachments())) == 1 for m in each)
        # a late window with events (earlier than the quiet run): a bulletin; the run stays announced
        deliver_product(s, "SEL3", *REB_WINDOW, sleep=lambda t: None)
        assert len(to("once@example.de")) == 2 and len(to("skip@example.de")) == 1
        (q19,) = _quiet_windows(s, 1, quiet[-1][1])
        deliver_product(s, "SEL3", UTCDateTime(q19[0]), UTCDateTime(q19[1]), sleep=lambda t: None)
        assert len(to("once@example.de")) == 2
        # a window with events after the quiet run, then a quiet one: "no events" once more
        cat, _ = read_bulletin(REB2)
        w20 = (q19[1], q19[1] + DAY)
        with db.session_scope(s.database_url) as ss:
            write_product(ss, ProductKey("SEL3", *w20), input_fingerprint="e", config_hash="c", software_version="t",
                          fill=lambda ss, p: store_catalog(ss, p, cat))
        deliver_product(s, "SEL3", UTCDateTime(w20[0]), UTCDateTime(w20[1]), sleep=lambda t: None)
        (q21,) = _quiet_windows(s, 1, w20[1])
        deliver_product(s, "SEL3", UTCDateTime(q21[0]), UTCDateTime(q21[1]), sleep=lambda t: None)
        subjects = [m["Subject"] for m in to("once@example.de")]
        assert len(subjects) == 4 and subjects[-1].endswith("no events") and not subjects[-2].endswith("no events")
        assert to("default@example.de")[-1]["Subject"] == subjects[-1]
