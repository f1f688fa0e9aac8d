"""Driving daifu: orders made by the admin's /newlink, then shoppers checking out through deep links.

One checkout flow is four updates, each answered by the bot:
  /start <token> (message)  -> the order card with its payment buttons
  tap "Pay by card"         -> answerCallbackQuery, then the invoice
  pre_checkout_query        -> answerPreCheckoutQuery (Telegram gives the bot 10 s for it)
  successful_payment        -> the receipt to the shopper (and a note to the admin)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from bench.counting import counting_queue
from bench.figures import FixedRate, Measured, Stopwatch, Throughput
from bench.load import PeoplePool, closed_loop, open_loop, people_for
from bench.options import Options
from bench.orders import METHODS, Orders
from bench.replies import BotReplies, Reply
from bench.stats import Latency
from emulator import BotApiEmulator, User

UPDATES_PER_FLOW = 4
STEPS = ("start -> order card", "tap -> invoice", "pre-checkout -> answer", "payment -> receipt")


@dataclass(frozen=True)
class FlowTiming:
    """Seconds from each of the shopper's four actions to the bot's answer to it."""

    start_to_card: float
    tap_to_invoice: float
    pre_checkout: float
    payment_to_receipt: float

    def steps(self) -> tuple[float, float, float, float]:
        return (self.start_to_card, self.tap_to_invoice, self.pre_checkout, self.payment_to_receipt)


def is_order_card(reply: Reply) -> bool:
    return "reply_markup" in reply.message


def is_invoice(reply: Reply) -> bool:
    return "invoice" in reply.message


def is_receipt(reply: Reply) -> bool:
    return "Payment received" in reply.text


def is_admin_note(reply: Reply) -> bool:
    return " paid " in reply.text


class CheckoutScenario:
    unit = "checkout flow"
    updates_per_item = UPDATES_PER_FLOW

    def __init__(self, emu: BotApiEmulator, replies: BotReplies, options: Options) -> None:
        self.emu = emu
        self.replies = replies
        self.options = options
        self.method = METHODS[options.method]
        self.updates = counting_queue(emu)
        self.stale_cards: dict[str, int] = {}  # a checkout has no request cards to leave out of date
        self.admin = emu.add_user("Ada", username="ada_admin")
        self.orders = Orders(emu, replies, self.admin, self.method, options.reply_timeout)
        count = people_for(options.concurrency)
        self.people = [emu.add_user(f"Shopper {n}", username=f"shopper_{n}") for n in range(count)]

    def close(self) -> None:
        """Nothing to let go of (the pay-for-me scenario's has)."""

    async def make_orders(self) -> None:
        """The orders of the warm-up and the throughput run, made before either (the latency run makes its own)."""
        await self.orders.make(self.options.warmup + self.options.flows)

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
        links = self.orders.take(self.options.warmup)
        await closed_loop(self.options.concurrency, links, PeoplePool(self.people), self.checkout)
        await self._admin_notes(len(links))

    async def throughput(self, bot: Measured) -> Throughput:
        links = self.orders.take(self.options.flows)
        watch = Stopwatch(bot, self.updates)
        flows = await closed_loop(self.options.concurrency, links, PeoplePool(self.people), self.checkout)
        await self._admin_notes(len(flows))
        return Throughput.of(
            concurrency=self.options.concurrency,
            unit=self.unit,
            items=len(flows),
            spent=watch.read(),
            reply=Latency.of([step for flow in flows for step in flow.steps()]),
            pre_checkout=Latency.of([flow.pre_checkout for flow in flows]),
        )

    async def fixed_rate(self, bot: Measured, rate: float) -> FixedRate:
        count = max(2, math.ceil(rate * self.options.latency_seconds / UPDATES_PER_FLOW))
        await self.orders.make(count)  # before the watch starts: making orders is never timed
        links = self.orders.take(count)
        watch = Stopwatch(bot, self.updates)
        # Flows start evenly spaced so that their updates add up to the offered rate.
        flows, started = await open_loop(rate / UPDATES_PER_FLOW, links, PeoplePool(self.people), self.checkout)
        await self._admin_notes(len(flows))
        return FixedRate.of(
            offered=rate,
            items=len(flows),
            items_started_per_s=started,
            spent=watch.read(),
            reply=Latency.of([step for flow in flows for step in flow.steps()]),
            pre_checkout=Latency.of([flow.pre_checkout for flow in flows]),
            steps={name: Latency.of([flow.steps()[i] for flow in flows]) for i, name in enumerate(STEPS)},
        )
