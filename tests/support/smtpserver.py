"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), with scripted answers to DATA.

``script`` lists what to do with each message, in order (then "accept" for the rest):
``"accept"``, ``"451"`` (try again later), ``"550"`` (refused for good), ``"drop"`` (close the
connection in the middle of DATA, before answering) or a callable run when the message has
arrived, before the answer (the crash tests kill the sending process there), which returns
the step to take then. Every message
that reached DATA is kept in ``attempts``; only accepted ones in ``messages``.

TLS: ``security="starttls"`` (STARTTLS required before AUTH/MAIL) or ``"tls"`` (implicit TLS),
with a certificate from a throw-away CA (trustme); ``ca_file`` is the CA to trust.
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

Step = str | Callable[[], str]


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    data: bytes
    answer: str

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        step = self.server.next_step()
        data = envelope.original_content or envelope.content
        if callable(step):
            step = step()
        if step == "drop":
            answer = "(dropped)"
        elif step == "451":
            answer = "451 4.3.0 Try again later"
        elif step == "550":
            answer = "550 5.7.1 Delivery not authorised"
        else:
            answer = "250 OK"
        mail = ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), bytes(data), answer)
        self.server.record(mail)
        if step == "drop":
            smtp.transport.close()
        return answer


class SmtpServer:
    def __init__(
        self,
        tmp_path: Path,
        *,
        security: str = "none",
        login: tuple[str, str] | None = None,
        script: list[Step] | None = None,
    ) -> None:
        self.security = security
        self.login = login
        self.script = list(script or [])
        self.attempts: list[ReceivedMail] = []
        self.logins: list[str] = []
        self._lock = threading.Lock()
        self.port = _free_port()
        self.ca_file: str | None = None
        kwargs: dict[str, Any] = {}
        ssl_context = None
        if security != "none":
            ca = trustme.CA()
            cert = ca.issue_cert("127.0.0.1", "localhost")
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(server_context)
            ca_path = tmp_path / "test-ca.pem"
            ca.cert_pem.write_to_path(str(ca_path))
            self.ca_file = str(ca_path)
            if security == "starttls":
                kwargs.update(tls_context=server_context, require_starttls=True)
            else:
                ssl_context = server_context
        if login is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=security != "none")
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, ssl_context=ssl_context, **kwargs
        )

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return [m for m in self.attempts if m.answer.startswith("250")]

    def next_step(self) -> Step:
        with self._lock:
            return self.script.pop(0) if self.script else "accept"

    def record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self.attempts.append(mail)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and self.login is not None:
            user, password = data.login.decode(), data.password.decode()
            self.logins.append(user)
            if (user, password) == self.login:
                return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> SmtpServer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
