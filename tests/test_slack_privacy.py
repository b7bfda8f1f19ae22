"""Phone numbers masked in chat text; phone numbers, tokens and secrets redacted in logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.slack.privacy import install_log_redaction, mask_phone_numbers, redact


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+15125550123", "(512) •••-••23"),
        ("call (512) 555-0123.", "call (512) •••-••23."),
        ("1-512-555-0123", "(512) •••-••23"),
        ("+442071838750", "+••••••••••50"),
        ("ids 1005551234 and 2026-11-03", "ids 1005551234 and 2026-11-03"),  # area code 100: no
        ("(512) •••-••23", "(512) •••-••23"),  # already masked
        ("ts 1790000000.000123", "ts 1790000000.000123"),
    ],
)
def test_mask_phone_numbers(text: str, masked: str) -> None:
    assert mask_phone_numbers(text) == masked


def test_redact_hides_slack_tokens_bearer_headers_and_named_secrets() -> None:
    text = "token xoxb-123-456-abcDEF app xapp-1-A1-2-ff Authorization: Bearer abc.def.ghi123 s3cr3t-signing"

    assert redact(text, ["s3cr3t-signing"]) == (
        "token [redacted token] app [redacted token] Authorization: [redacted token] [redacted]"
    )


@pytest.fixture
def redacting() -> Iterator[None]:
    undo = install_log_redaction(["shh-signing-secret"])
    yield
    undo()


def test_every_log_record_is_redacted_whoever_logs_it(
    redacting: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    logging.getLogger("slack_bolt.App").info("user %s phone %s", "U1", "+15125550123")
    logging.getLogger("anything").warning("sent with xoxb-1-2-3 and %s", "shh-signing-secret")

    assert [r.getMessage() for r in caplog.records] == [
        "user U1 phone (512) •••-••23",
        "sent with [redacted token] and [redacted]",
    ]


def test_arguments_are_redacted_one_by_one_so_formatters_can_still_read_them(
    redacting: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    access = ("127.0.0.1:5000", "GET", "/x?to=+15125550123", "1.1", 200)
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', *access)
    logging.getLogger("anything").info(
        "%(who)s at %(phone)s", {"who": "ana", "phone": "5125550123"}
    )
    logging.getLogger("anything").info("payload %r", {"phone": "+15125550123"})

    first, second, third = caplog.records
    assert isinstance(first.args, tuple) and len(first.args) == 5
    assert first.getMessage() == '127.0.0.1:5000 - "GET /x?to=(512) •••-••23 HTTP/1.1" 200'
    assert second.getMessage() == "ana at (512) •••-••23"
    assert third.getMessage() == "payload {'phone': '(512) •••-••23'}"


def test_tracebacks_are_redacted_too(redacting: None, caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise ValueError("bad number 512-555-0123")
    except ValueError:
        logging.getLogger("anything").exception("failed")

    (record,) = caplog.records
    assert "512-555-0123" not in (record.exc_text or "")
    assert "(512) •••-••23" in (record.exc_text or "")
    assert "512-555-0123" not in caplog.text


def test_undo_restores_plain_records(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction()()

    logging.getLogger("anything").warning("+15125550123")

    assert caplog.records[0].getMessage() == "+15125550123"
