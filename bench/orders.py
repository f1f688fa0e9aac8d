"""The orders a run pays: made by the admin's /newlink before any timed phase, handed out as deep links."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from bench.replies import BotReplies, Reply
from emulator import BotApiEmulator, User
from services.tokens import REQUEST_PREFIX

DEEP_LINK = re.compile(r"https://t\.me/\w+\?start=[A-Za-z0-9_-]+")
# How admins read an order (its number), in the new-link message and in the note of its payment.
ORDER_NUMBER = re.compile(r"order #(\d+) · ")


@dataclass(frozen=True)
class PaymentMethod:
    newlink: str  # the admin's command that makes one order
    button: str  # (part of) the button that pays by this method, under an order card or a friend's offer


METHODS = {
    "card": PaymentMethod("/newlink 12.50 USD Coffee beans", "Pay by card"),
    "stars": PaymentMethod("/newlink 50 XTR Sticker pack", "Stars"),
}


def is_link_photo(reply: Reply) -> bool:
    return "photo" in reply.message and DEEP_LINK.search(reply.text) is not None


def token_of(link: str) -> str:
    return link.rpartition("=")[2]


class Orders:
    """Deep links to unpaid orders, made in batches by the admin and taken once each."""

    def __init__(
        self, emu: BotApiEmulator, replies: BotReplies, admin: User, method: PaymentMethod, timeout: float
    ) -> None:
        self.emu = emu
        self.replies = replies
        self.admin = admin
        self.method = method
        self.timeout = timeout
        self.made = 0
        self.seconds = 0.0  # spent making them, over every batch
        self.shadowed_links: list[str] = []  # orders whose token /start takes for a request's (see make)
        self._links: list[str] = []
        self.numbers: dict[str, str] = {}  # link -> the order's number, as the admin's notes name it

    async def make(self, count: int) -> None:
        """count more orders, made while nothing is timed (the bot is otherwise idle)."""
        began = time.perf_counter()
        wanted = len(self._links) + count
        asked = count
        while asked:
            # All at once: the bot works through them in order, and only the set of links matters.
            for _ in range(asked):
                await self.emu.send_text(self.admin, self.method.newlink)
            made = await self.replies.collect(
                self.admin.id, asked, is_link_photo, "a new checkout link", timeout=self.timeout
            )
            links = []
            for reply in made:
                link, number = DEEP_LINK.search(reply.text), ORDER_NUMBER.search(reply.text)
                if link and number:
                    links.append(link.group(0))
                    self.numbers[link.group(0)] = number.group(1)
            # daifu takes any /start payload beginning with "r_" for a pay-for-me request's token, and an order
            # token is 22 random URL-safe characters: 1 in 4096 begins so, and /start then says "This request
            # is not known". Such orders cannot be paid through their link; the run makes others instead.
            shadowed = [link for link in links if token_of(link).startswith(REQUEST_PREFIX)]
            self.shadowed_links += shadowed
            self._links += [link for link in links if link not in shadowed]
            self.made += len(links)
            asked = wanted - len(self._links)
        self.seconds += time.perf_counter() - began

    def take(self, count: int) -> list[str]:
        taken, self._links = self._links[:count], self._links[count:]
        assert len(taken) == count, "Orders.make made too few orders"
        return taken
