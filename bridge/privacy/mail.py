"""Mail to partners' e-mail contacts, through the outbox (docs/partners.md).

Each message is an outbox action of kind :data:`MAIL_SEND` with its own idempotency key,
so a mail server that is down or busy is retried like every other outbound effect, and a
crash after queueing loses nothing. The Message-ID is derived from the key: a message
sent twice after a lost answer carries the same id, which mail systems use to tell
copies apart.
"""

from __future__ import annotations

import hashlib
import logging
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
import attrs

from bridge.config.model import MailConfig
from bridge.pipeline import keys
from bridge.pipeline.actions import Queued, Run, action, new_action
from bridge.pipeline.contracts import PermanentFailure, RetryLater, Unavailable
from bridge.privacy import report as words
from bridge.privacy.audit import AuditLog
from bridge.storage.database import UnitOfWork
from bridge.storage.erasure import NOTICE_ROOM

log = logging.getLogger(__name__)

MAIL_SEND = "mail.send"
MAIL_SENT = "mail.sent"
TIMEOUT_S = 30.0


@action(MAIL_SEND)
@attrs.frozen
class MailSend:
    """One mail to one address; ``request_id``/``server`` tie it to an erasure notice."""

    to: str
    subject: str
    text: str
    request_id: str | None = None
    server: str | None = None


@attrs.frozen
class MailSent:
    sent: bool = True


def mail_action(
    key: str,
    to: str,
    subject: str,
    text: str,
    *,
    request_id: str | None = None,
    server: str | None = None,
) -> Queued:
    """A mail to one address; ``request_id``/``server`` tie it to an erasure notice."""
    return new_action(
        MailSend(to, subject, text, request_id, server),
        key=keys.mail_key(key, to),
        queue=keys.mail_queue(to),
    )


def message_id(key: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@rc-matrix-bridge>"


class MailSender:
    def __init__(self, config: MailConfig) -> None:
        self._config = config

    def message(self, run: Run[MailSend]) -> EmailMessage:
        mail = run.payload
        msg = EmailMessage()
        msg["From"] = self._config.sender or f"bridge@{self._config.host}"
        msg["To"] = mail.to
        msg["Subject"] = mail.subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = message_id(run.key)
        msg.set_content(mail.text)
        return msg

    async def send(self, run: Run[MailSend]) -> MailSent:
        c = self._config
        if not c.host:
            raise PermanentFailure("no mail server configured (mail.host)")
        try:
            await aiosmtplib.send(
                self.message(run),
                hostname=c.host,
                port=c.port,
                username=c.username,
                password=c.password,
                use_tls=c.security == "tls",
                start_tls=True if c.security == "starttls" else False,
                timeout=TIMEOUT_S,
            )
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPServerDisconnected) as e:
            raise Unavailable(f"mail server unreachable: {type(e).__name__}") from e
        except aiosmtplib.SMTPTimeoutError as e:
            raise Unavailable("mail server timed out") from e
        except aiosmtplib.SMTPRecipientsRefused as e:
            raise PermanentFailure("the mail server refused the recipient") from e
        except aiosmtplib.SMTPResponseException as e:
            if e.code >= 500:
                raise PermanentFailure(f"the mail server refused the message ({e.code})") from e
            raise RetryLater(f"the mail server answered {e.code}") from e
        except aiosmtplib.SMTPException as e:
            raise RetryLater(f"mail: {type(e).__name__}") from e
        except OSError as e:
            raise Unavailable(f"mail server unreachable: {type(e).__name__}") from e
        log.info("Mail %s sent", run.id)
        return MailSent()


async def mailed(uow: UnitOfWork, run: Run[MailSend], _result: MailSent) -> None:
    """A sent notice mail: the recipient server's notice row says so, and the audit chain."""
    rid, server = run.payload.request_id, run.payload.server
    if rid and server:
        await uow.erasure.set_recipient(
            rid,
            server,
            NOTICE_ROOM,
            words.ADMIN_NOTIFIED,
            "e-mailed an admin contact",
            unless=(words.ACKNOWLEDGED,),
        )
    details = {"request_id": rid, "server": server, "outcome": "sent"}
    await AuditLog.append(uow, MAIL_SENT, "bridge", None, details)
