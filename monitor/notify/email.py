"""E-mail: the digest as a MIME message, and an SMTP transport (stdlib ``smtplib``).

Header values are cleaned here, before they reach the ``email`` package: the Python 3.11 of
our machines still lets an encoded CR LF through a header (CVE-2024-6923), so we do not rely
on it. The message is built once, when the delivery is recorded; every retry sends the very
same bytes with the same Message-ID, so a receiver can recognise a repeat.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from monitor.config import SmtpConfig
from monitor.errors import DeliveryError
from monitor.notify.digest import RenderedDigest

# Every character that some mail software treats as the end of a line, or that has no place
# in a header: CR, LF, VT, FF, NEL, the Unicode line and paragraph separators, the file/group/
# record separators, and the rest of the C0/C1 controls.
_HEADER_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def header_value(value: str) -> str:
    """A value safe for one header line: line separators and controls become spaces.

    RFC 2047 encoded words (``=?utf-8?q?…?=``) are broken up too: the ``email`` package of
    Python 3.11 decodes them when a header is set and writes a CR LF inside one out raw,
    which starts a new header (CVE-2024-6923). No subject we write needs one.
    """
    cleaned = _HEADER_BREAKS.sub(" ", value)
    cleaned = "".join(" " if unicodedata.category(c) in ("Zl", "Zp", "Cc") else c for c in cleaned)
    cleaned = cleaned.replace("=?", "= ?")
    return re.sub(r"\s+", " ", cleaned).strip()


def message_id_for(key: str, sender: str) -> str:
    """A Message-ID derived from the delivery key: the same digest always has the same one."""
    domain = parseaddr(header_value(sender))[1].rpartition("@")[2] or "localhost"
    domain = re.sub(r"[^A-Za-z0-9.-]", "", domain) or "localhost"
    return f"<digest.{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def _address(value: str) -> Address:
    name, address = parseaddr(header_value(value))
    username, _, domain = address.rpartition("@")
    if not username or not domain:
        raise DeliveryError(f"not an e-mail address: {value!r}", permanent=True)
    return Address(display_name=name, username=username, domain=domain)


def build_message(
    rendered: RenderedDigest, *, sender: str, recipients: Sequence[str], message_id: str, date: datetime
) -> bytes:
    """The digest as multipart/alternative (plain text, then HTML), 7-bit clean."""
    message = EmailMessage(policy=SMTP)
    message["From"] = _address(sender)
    message["To"] = [_address(r) for r in recipients]
    message["Subject"] = header_value(rendered.subject)
    message["Date"] = format_datetime(date)
    message["Message-ID"] = header_value(message_id)
    # RFC 3834: tells vacation responders and ticket systems not to answer.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message.as_bytes()


def envelope_address(value: str) -> str:
    """The bare address of a From/To value, for the SMTP envelope."""
    return _address(value).addr_spec


class SmtpTransport:
    """Sends ready-made messages through the configured server; failures become ``DeliveryError``."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send(self, sender: str, recipients: Sequence[str], message: bytes) -> None:
        try:
            self._send(envelope_address(sender), [envelope_address(r) for r in recipients], message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
            raise DeliveryError(
                f"smtp: every recipient refused: {detail}", permanent=all(c >= 500 for c in codes)
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"smtp: {self._where()} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                permanent=exc.smtp_code >= 500,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"smtp: {self._where()}: {exc}", permanent=True) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(
                f"smtp: {self._where()}: TLS certificate not trusted ({exc.verify_message}); set smtp.ca_file",
                permanent=True,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            # Disconnects (also in the middle of DATA), timeouts, refused connections: worth a retry.
            raise DeliveryError(f"smtp: {self._where()}: {type(exc).__name__}: {exc}") from None

    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def _send(self, sender: str, recipients: list[str], message: bytes) -> None:
        config = self.config
        context = ssl.create_default_context(cafile=config.ca_file)
        smtp: smtplib.SMTP
        if config.security == "tls":
            smtp = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_seconds, context=context)
        else:
            smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout_seconds)
        with smtp:
            smtp.ehlo_or_helo_if_needed()
            if config.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError(
                        "the server does not offer STARTTLS; set smtp.security to tls or none"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if config.username is not None and config.password is not None:
                smtp.login(config.username.get_secret_value(), config.password.get_secret_value())
            refused = smtp.sendmail(sender, recipients, message)
        if refused:
            # Some recipients took it: it is sent; the rest is worth knowing but not a reason to resend.
            detail = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in refused.items())
            raise PartiallyRefused(f"smtp: some recipients refused: {detail}")


class PartiallyRefused(DeliveryError):
    """The message went out, but not to every recipient (recorded as sent, with this note)."""


def _text(value: bytes | str) -> str:
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return header_value(text)[:200]
