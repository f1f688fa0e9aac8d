"""Driving daifu: orders made by the admin's /newlink, then shoppers checking out through deep links.

One checkout flow is four updates, each answered by the bot:
  /start <token> (message)  -> the order card with its payment buttons
  tap "Pay by card"         -> answerCallbackQuery, then the invoice
  pre_checkout_query        -> answerPreCheckoutQuery (Telegram gives the bot 10 s for it)
  successful_payment        -> the receipt to the shopper (and a note to the admin)
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from bench.figures import FixedRate, Measured, Stopwatch, Throughput
from bench.load import PeoplePool, closed_loop, open_loop
from bench.options import Options
from bench.replies import BotReplies, Reply
from bench.stats import Latency
from bot.emulator import BotApiEmulator, User
from services.tokens import REQUEST_PREFIX

UPDATES_PER_FLOW = 4
STEPS = ("start -> order card", "tap -> invoice", "pre-checkout -> answer", "payment -> receipt")
DEEP_LINK = re.compile(r"https://t\.me/\w+\?start=[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class PaymentMethod:
    newlink: str  # the admin's command that makes one order
    button: str  # (part of) the order card's button for this method


METHODS = {
    "card": PaymentMethod("/newlink 12.50 USD Coffee beans", "Pay by card"),
    "stars": PaymentMethod("/newlink 50 XTR Sticker pack", "Stars"),
}


@dataclass(frozen=True)
class FlowTiming:
    """Seconds from each of the shopper's four actions to the bot's answer to it."""

    start_to_card: float
    tap_to_invoice: float
    pre_checkout: float
    payment_to_receipt: float

    def steps(self) -> tuple[float, float, float, float]:
        return (self.start_to_card, self.tap_to_invoice, self.pre_checkout, self.payment_to_receipt)


def is_link_photo(reply: Reply) -> bool:
    return "photo" in reply.message and DEEP_LINK.search(reply.text) is not None


def is_order_card(reply: Reply) -> bool:
    return "reply_markup" in reply.message


def is_invoice(reply: Reply) -> bool:
    return "invoice" in reply.message


def is_receipt(reply: Reply) -> bool:
    return "Payment received" in reply.text


def is_admin_note(reply: Reply) -> bool:
    return " paid " in reply.text


class CheckoutScenario:
    def __init__(self, emu: BotApiEmulator, replies: BotReplies, options: Options) -> None:
        self.emu = emu
        self.replies = replies
        self.options = options
        self.method = METHODS[options.method]
        self.admin = emu.add_user("Ada", username="ada_admin")
        self.people = [emu.add_user(f"Shopper {n}", username=f"shopper_{n}") for n in range(options.concurrency)]
        self.fixed_rate_flows = max(2, math.ceil(options.rate * options.latency_seconds / UPDATES_PER_FLOW))
        self._links: list[str] = []
        self.shadowed_links: list[str] = []  # orders whose token /start takes for a request's (see make_orders)
        self.orders_s = 0.0

    @property
    def orders_needed(self) -> int:
        return self.options.warmup + self.options.flows + self.fixed_rate_flows

    async def make_orders(self) -> None:
        """Every order the run will pay, made up front so making them is never in a timed run."""
        count = self.orders_needed
        began = time.perf_counter()
        asked = count
        while asked:
            # All at once: the bot works through them in order, and only the set of links matters.
            for _ in range(asked):
                await self.emu.send_text(self.admin, self.method.newlink)
            made = await self.replies.collect(
                self.admin.id, asked, is_link_photo, "a new checkout link", timeout=self.options.reply_timeout
            )
            links = [match.group(0) for reply in made if (match := DEEP_LINK.search(reply.text))]
            # daifu takes any /start payload beginning with "r_" for a pay-for-me request's token, and an order
            # token is 22 random URL-safe characters: 1 in 4096 begins so, and /start then says "This request
            # is not known". Such orders cannot be paid through their link; the run makes others instead.
            shadowed = [link for link in links if link.rpartition("=")[2].startswith(REQUEST_PREFIX)]
            self.shadowed_links += shadowed
            self._links += [link for link in links if link not in shadowed]
            asked = count - len(self._links)
        self.orders_s = time.perf_counter() - began

    def _take_links(self, count: int) -> list[str]:
        taken, self._links = self._links[:count], self._links[count:]
        assert len(taken) == count, "make_orders made too few orders"
        return taken

    async def checkout(self, shopper: User, link: str) -> FlowTiming:
        emu, replies, timeout = self.emu, self.replies, self.options.reply_timeout
        opened = time.perf_counter()
        await emu.open_link(shopper, link)
        card = await replies.next(shopper.id, is_order_card, "the order card", timeout=timeout)

        tapped = time.perf_counter()
        await emu.click(shopper, card.message, self.method.button, timeout=timeout)
        invoice = await replies.next(shopper.id, is_invoice, "the invoice", timeout=timeout)

        # pay_invoice sends the pre_checkout_query and waits for the bot's answer; after it, it only
        # posts the successful_payment (no waiting), so the time around it is the answer's latency.
        asked = time.perf_counter()
        await emu.pay_invoice(shopper, invoice.message, timeout=timeout)
        answered = time.perf_counter()
        receipt = await replies.next(shopper.id, is_receipt, "the receipt", timeout=timeout)
        return FlowTiming(
            start_to_card=card.at - opened,
            tap_to_invoice=invoice.at - tapped,
            pre_checkout=answered - asked,
            payment_to_receipt=receipt.at - answered,
        )

    async def _admin_notes(self, count: int) -> None:
        # The admin's note is the last thing the bot does for a payment: a run ends when all are sent.
        await self.replies.collect(
            self.admin.id, count, is_admin_note, "the admin's payment note", timeout=self.options.reply_timeout
        )

    async def warm_up(self) -> None:
        links = self._take_links(self.options.warmup)
        await closed_loop(self.options.concurrency, links, PeoplePool(self.people), self.checkout)
        await self._admin_notes(len(links))

    async def throughput(self, bot: Measured) -> Throughput:
        links = self._take_links(self.options.flows)
        watch = Stopwatch(bot)
        flows = await closed_loop(self.options.concurrency, links, PeoplePool(self.people), self.checkout)
        await self._admin_notes(len(flows))
        return Throughput.of(
            concurrency=self.options.concurrency,
            unit="checkout flow",
            items=len(flows),
            updates_per_item=UPDATES_PER_FLOW,
            spent=watch.read(),
            reply=Latency.of([step for flow in flows for step in flow.steps()]),
            pre_checkout=Latency.of([flow.pre_checkout for flow in flows]),
        )

    async def fixed_rate(self, bot: Measured) -> FixedRate:
        # Flows start evenly spaced so that their updates add up to the offered rate.
        flows_per_s = self.options.rate / UPDATES_PER_FLOW
        links = self._take_links(self.fixed_rate_flows)
        watch = Stopwatch(bot)
        flows, achieved = await open_loop(flows_per_s, links, PeoplePool(self.people), self.checkout)
        await self._admin_notes(len(flows))
        return FixedRate.of(
            offered=self.options.rate,
            achieved=achieved * UPDATES_PER_FLOW,
            updates=len(flows) * UPDATES_PER_FLOW,
            spent=watch.read(),
            reply=Latency.of([step for flow in flows for step in flow.steps()]),
            pre_checkout=Latency.of([flow.pre_checkout for flow in flows]),
            steps={name: Latency.of([flow.steps()[i] for flow in flows]) for i, name in enumerate(STEPS)},
        )
