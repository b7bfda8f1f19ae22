"""A real uvicorn serving the web app with Twilio's SMS routes, for tests that must measure a
server process from outside (its memory in /proc): `python -m tests.web_server FD DATABASE_URL`.

The test binds the listening socket and passes its file descriptor, so connections queue in
the socket's backlog until the server accepts them: nothing waits for the server to start.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import uvicorn

from bot.telephony.signature import TwilioSignatureCheck
from bot.telephony.sms_webhook import sms_routes
from bot.web import create_web_app
from storage.clock import FrozenClock
from storage.db import make_engine
from tests.scenarios.world import make_services

TOKEN = "12345678901234567890123456789012"
PUBLIC = "https://bank.example.org"


def main(fd: int, database_url: str) -> None:
    clock = FrozenClock(datetime(2026, 11, 3, 15, 0, tzinfo=UTC))
    services = make_services(make_engine(database_url), clock)
    app = create_web_app(services, routes=sms_routes(services, TwilioSignatureCheck(TOKEN, PUBLIC)))
    uvicorn.run(app, fd=fd, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
