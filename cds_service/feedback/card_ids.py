"""Card and suggestion uuids that prove themselves, so feedback never waits for the card log.

The card log is written behind the response (:mod:`cds_service.feedback.card_log`): feedback may name a card
whose row another worker still has queued, or whose row was lost with a killed worker (SIGKILL). Each card
uuid therefore carries when it was issued and a MAC over that time, a nonce, the client (JWT ``iss``) and the
service, keyed with the installation's secret; its suggestions' uuids are derived from it. Feedback on such a
card is accepted at once from that client at that service, naming only those suggestions — no log row needed,
no waiting. (Snooze and analytics still read the log: a card whose row was lost is answered, not counted.)

Layout, RFC 9562 version 4 format: 48 bits of milliseconds since 1970, 26 bits of nonce, 48 bits of MAC.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

MAX_SUGGESTIONS = 16
"""Suggestion uuids checked per card (a card has a handful at most)."""


def _as_uuid4(raw: bytes) -> bytes:
    """The first 16 bytes with the version (4) and variant bits of a random UUID set."""
    marked = bytearray(raw[:16])
    marked[6] = (marked[6] & 0x0F) | 0x40
    marked[8] = (marked[8] & 0x3F) | 0x80
    return bytes(marked)


class CardIds:
    """Card uuids of ``secret``; with ``previous`` (the key before a rotation, while it is accepted), those of
    that key are recognised too, so feedback on cards shown before the rotation is still accepted at once."""

    def __init__(self, secret: str, previous: str | None = None) -> None:
        self._key = hmac.new(secret.encode(), b"bzd-taper-cds card ids", hashlib.sha256).digest()
        self._previous = CardIds(previous) if previous else None

    def for_card(self, client: str, service_id: str, issued: datetime) -> Callable[[], str]:
        """``new_uuid`` for :func:`cds_service.clinical.cards.build_card`: the card's uuid on the first call,
        then one per suggestion."""
        card = self._card(client, service_id, issued)
        counter = itertools.count()
        return lambda: card if (n := next(counter)) == 0 else self.suggestion(card, n - 1)

    def issued(self, card_uuid: str, client: str, service_id: str) -> datetime | None:
        """When this service issued the card to this client; ``None`` when the uuid is not such a card's."""
        try:
            raw = uuid.UUID(card_uuid).bytes
        except ValueError:
            return None
        if not hmac.compare_digest(raw[10:], self._mac(raw[:10], client, service_id)):
            return self._previous.issued(card_uuid, client, service_id) if self._previous else None
        return datetime.fromtimestamp(int.from_bytes(raw[:6], "big") / 1000, UTC)

    def suggestions(self, card_uuid: str) -> frozenset[str]:
        mine = frozenset(self.suggestion(card_uuid, n) for n in range(MAX_SUGGESTIONS))
        return mine | self._previous.suggestions(card_uuid) if self._previous else mine

    def suggestion(self, card_uuid: str, number: int) -> str:
        digest = hmac.new(self._key, f"suggestion\x00{card_uuid}\x00{number}".encode(), hashlib.sha256).digest()
        return str(uuid.UUID(bytes=_as_uuid4(digest)))

    def _card(self, client: str, service_id: str, issued: datetime) -> str:
        head = _as_uuid4(int(issued.timestamp() * 1000).to_bytes(6, "big") + os.urandom(10))[:10]
        return str(uuid.UUID(bytes=head + self._mac(head, client, service_id)))

    def _mac(self, head: bytes, client: str, service_id: str) -> bytes:
        message = head + b"\x00" + client.encode() + b"\x00" + service_id.encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()[:6]
