"""Requests that do not come from Slack get 401 before Bolt sees them, whatever their headers and body hold: nothing
acted on, no 500, no stack trace, and never their body in the log (Bolt's own check logs it whole)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time

import pytest

from tests.conftest import SIGNING_SECRET, USER_ID, Banana

FORM = "application/x-www-form-urlencoded"
# What a forger sends: a command whose text would show up in a logged body.
BODY = f"command=%2Fbanana&text=forged-body-marker&user_id={USER_ID}&channel_id=C0GENERAL1&team_id=T0TEAM001"


def signature(raw: bytes, timestamp: str, secret: str = SIGNING_SECRET) -> str:
    """Slack's v0 signature, over the body's bytes (https://docs.slack.dev/authentication/verifying-requests-from-slack/)."""
    base = b"v0:" + timestamp.encode() + b":" + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


async def post(banana: Banana, raw: bytes, **headers: str):
    return await banana.http.post(f"{banana.url}/slack/events", content=raw, headers={"Content-Type": FORM, **headers})


def assert_quiet(caplog: pytest.LogCaptureFixture) -> None:
    """At most one line per refused request, without the body; no error and no stack trace."""
    assert "forged-body-marker" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not [r for r in caplog.records if r.name.startswith("slack_bolt")], "Bolt never saw it"


@pytest.fixture
def caplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


async def test_a_forged_signature_gets_401_and_its_body_is_not_logged(banana: Banana, caplog) -> None:
    now = str(int(time.time()))
    forged = await post(
        banana,
        BODY.encode(),
        **{"X-Slack-Request-Timestamp": now, "X-Slack-Signature": signature(BODY.encode(), now, "not-the-secret")},
    )
    assert forged.status_code == 401 and forged.json() == {"error": "invalid request"}
    assert_quiet(caplog)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "banana"]
    assert line == "answered 401 to a request at /slack/events: a signature that does not match"


@pytest.mark.parametrize(
    "headers",
    [
        {},  # nothing at all
        {"X-Slack-Request-Timestamp": "{now}"},  # no signature
        {"X-Slack-Signature": "{good}"},  # no timestamp
        {"X-Slack-Request-Timestamp": "not-a-number", "X-Slack-Signature": "{good}"},
        {"X-Slack-Request-Timestamp": "9" * 5000, "X-Slack-Signature": "{good}"},  # past int()'s digit limit
        {"X-Slack-Request-Timestamp": "99999999999999999999", "X-Slack-Signature": "{good}"},
        {"X-Slack-Request-Timestamp": "-{now}", "X-Slack-Signature": "{good}"},
        {"X-Slack-Request-Timestamp": "+{now}", "X-Slack-Signature": "{good}"},  # int() takes it; Slack never sends it
        {"X-Slack-Request-Timestamp": "{now}", "X-Slack-Signature": "v0=not-hex"},
    ],
    ids=["none", "no-signature", "no-timestamp", "not-a-number", "huge", "far-future", "negative", "plus", "bad"],
)
async def test_bad_or_missing_headers_get_401_never_500(banana: Banana, caplog, headers: dict[str, str]) -> None:
    now = str(int(time.time()))
    raw = BODY.encode()
    sent = {k: v.format(now=now, good=signature(raw, now)) for k, v in headers.items()}
    response = await post(banana, raw, **sent)
    assert response.status_code == 401
    assert_quiet(caplog)
    await assert_still_answering(banana)


async def test_a_body_that_is_not_utf8_gets_4xx(banana: Banana, caplog) -> None:
    raw = b"command=%2Fbanana&text=\xff\xfe-forged-body-marker"
    now = str(int(time.time()))
    unsigned = await post(banana, raw)
    assert unsigned.status_code == 401
    signed = await post(banana, raw, **{"X-Slack-Request-Timestamp": now, "X-Slack-Signature": signature(raw, now)})
    assert signed.status_code == 400
    assert_quiet(caplog)
    await assert_still_answering(banana)


async def test_slacks_unsigned_ssl_check_is_still_answered(banana: Banana, caplog) -> None:
    check = await post(banana, b"ssl_check=1&token=deprecated-verification-token")
    assert check.status_code == 200
    assert "deprecated-verification-token" not in caplog.text


async def assert_still_answering(banana: Banana) -> None:
    response = await banana.command("help")
    assert response.status_code == 200
