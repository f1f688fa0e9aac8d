"""Driving daifu through the whole pay-for-me journey: a shopper asks a friend, who pays for them.

One journey is nine updates (counted again by the emulator's queue in every run, see bench.counting):
  shopper: /start <order token> (message)           -> the order card
  shopper: tap "Ask a friend to pay" (callback)       -> answerCallbackQuery, then "Add a note..."
  shopper: tap "Skip" (callback)                      -> answer, the prompt's keyboard removed, the request
                                                         kit ("Your request is ready", the r_ link; its QR code
                                                         is drawn only on a tap, which this journey does not make)
  shopper: inline query with the request token        -> answerInlineQuery: the card, and an invoice to post
  shopper: picks the card for their chat with the friend (chosen_inline_result: daifu records the card)
  friend:  taps "Pay for <shopper>" on the card, a t.me link: /start r_<token> (message) -> the offer
  friend:  tap "Pay by card" (callback)               -> answer, the invoice, the card edited ("… is paying")
  friend:  pre_checkout_query                         -> answerPreCheckoutQuery
  friend:  successful_payment (message)               -> the receipt to the friend, "… paid for you" to the
                                                         shopper, the admin's note, the card edited ("Paid by")
A journey is done when all four notices of the payment have reached the emulator. Card taps on a URL button
and the chat picker itself send the bot nothing, as in Telegram.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from bench.checkout_scenario import is_invoice
from bench.counting import counting_queue
from bench.figures import FixedRate, Measured, Stopwatch, Throughput
from bench.load import PeoplePool, closed_loop, open_loop, people_for
from bench.options import Options
from bench.orders import METHODS, Orders
from bench.replies import BotReplies, KeyedReplies, Reply, UnexpectedReply
from bench.stats import Latency
from emulator import BotApiEmulator, Chat, User

UPDATES_PER_JOURNEY = 9
# How long a journey waits for the card's "Paid by" edit once the payment's messages are all in. The edit may
# never come: with several workers, the friend can pay before the worker that got the chosen result has
# recorded the card (see stale_cards). Such a card is counted, not waited for until the run fails.
CARD_GRACE_SECONDS = 5.0
STALE_PAYING, STALE_UNEDITED = "still 'is paying'", "never edited"
STEPS = (
    "start -> order card",
    "ask -> note prompt",
    "skip -> request link",
    "inline query -> answer",
    "friend's start -> offer",
    "tap -> invoice",
    "pre-checkout -> answer",
    "payment -> receipt",
    "payment -> last notice",
)
REQUEST_LINK = re.compile(r"https://t\.me/\w+\?start=(r_[A-Za-z0-9_-]+)")
ADMIN_NOTE = re.compile(r" paid .* via \w+: order #(\d+) · ")


@dataclass(frozen=True)
class Pair:
    """A shopper, the friend they ask, and the chat between the two that the request card is posted into."""

    shopper: User
    friend: User
    chat: Chat


@dataclass(frozen=True)
class JourneyTiming:
    """Seconds from each action to the bot's answer; the journey's last step waits for every notice."""

    steps: tuple[float, ...]  # in the order of STEPS

    @property
    def pre_checkout(self) -> float:
        return self.steps[STEPS.index("pre-checkout -> answer")]

    @property
    def replies(self) -> tuple[float, ...]:
        """One latency per answered update (the chosen result gets no answer), as the echo bot's are counted."""
        return self.steps[:-1]


Expect = Callable[[Reply], bool]


def has_button(words: str) -> Expect:
    def check(reply: Reply) -> bool:
        rows = (reply.message.get("reply_markup") or {}).get("inline_keyboard") or []
        return any(words in button.get("text", "") for row in rows for button in row)

    return check


def says(words: str) -> Expect:
    return lambda reply: words in reply.text


class PayForMeScenario:
    unit = "pay-for-me journey"
    updates_per_item = UPDATES_PER_JOURNEY

    def __init__(self, emu: BotApiEmulator, replies: BotReplies, options: Options) -> None:
        self.emu = emu
        self.replies = replies
        self.options = options
        self.method = METHODS[options.method]
        self.updates = counting_queue(emu)
        self.admin = emu.add_user("Ada", username="ada_admin")
        self.orders = Orders(emu, replies, self.admin, self.method, options.reply_timeout)
        self.pairs = [self._pair(n) for n in range(people_for(options.concurrency))]
        # Enough for every pair to go through one journey while warming up: none is new to daifu when timed.
        self.warmup = max(options.warmup, len(self.pairs))
        chats = {pair.chat.id for pair in self.pairs}
        # The admin's notes and the cards' edits arrive in a shared chat or in no set order: each journey
        # picks out its own, by order token and by card.
        self.admin_notes = KeyedReplies(emu, self._admin_note_key)
        self.card_edits = KeyedReplies(emu, lambda event: card_key(event, chats))
        self._cards: list[tuple[int, int]] = []  # (chat, message) of every card posted in the current run
        self.stale_cards: Counter[str] = Counter()  # cards not saying "Paid by" after their run, by what they say

    def _pair(self, number: int) -> Pair:
        shopper = self.emu.add_user(f"Shopper{number}", username=f"shopper_{number}")
        friend = self.emu.add_user(f"Friend{number}", username=f"friend_{number}")
        return Pair(shopper, friend, self.emu.add_direct_chat(shopper, friend))

    def _admin_note_key(self, event: dict[str, Any]) -> Hashable | None:
        if event["type"] != "message" or event["chat_id"] != self.admin.id:
            return None
        found = ADMIN_NOTE.search(str(event["message"].get("text") or ""))
        return found.group(1) if found else None

    def close(self) -> None:
        self.admin_notes.close()
        self.card_edits.close()

    async def make_orders(self) -> None:
        """The orders of the warm-up and the throughput run, made before either (the latency run makes its own)."""
        await self.orders.make(self.warmup + self.options.flows)

    async def journey(self, pair: Pair, link: str) -> JourneyTiming:
        asking, posted = await self._ask_and_share(pair, link)
        paying, paid = await self._friend_pays(pair, posted)
        timeout = self.options.reply_timeout
        receipt = await self.replies.next(pair.friend.id, says("You paid for"), "the friend's receipt", timeout=timeout)
        told = await self.replies.next(pair.shopper.id, says("paid for you"), "the requester's note", timeout=timeout)
        number = self.orders.numbers[link]
        note = await self.admin_notes.next(number, says("on behalf of"), "the admin's note", timeout=timeout)
        edited = await self._paid_card((pair.chat.id, int(posted["message_id"])), pair.friend)
        notices = [receipt.at, told.at, note.at, *([edited.at] if edited else [])]
        return JourneyTiming(steps=(*asking, *paying, receipt.at - paid, max(notices) - paid))

    async def _ask_and_share(self, pair: Pair, link: str) -> tuple[tuple[float, ...], dict[str, Any]]:
        """The shopper's part: the reply latency of each of their answered steps, and the card as posted."""
        emu, replies, timeout, shopper = self.emu, self.replies, self.options.reply_timeout, pair.shopper
        # The shopper opens the order and asks a friend to pay it, without a note.
        opened = time.perf_counter()
        await emu.open_link(shopper, link)
        card = await replies.next(shopper.id, has_button("Ask a friend to pay"), "the order card", timeout=timeout)
        asked = time.perf_counter()
        await emu.click(shopper, card.message, "Ask a friend to pay", timeout=timeout)
        prompt = await replies.next(shopper.id, has_button("Skip"), "the note prompt", timeout=timeout)
        skipped = time.perf_counter()
        await emu.click(shopper, prompt.message, "Skip", timeout=timeout)
        kit = await replies.next(shopper.id, says("Your request is ready"), "the request kit", timeout=timeout)
        found = REQUEST_LINK.search(kit.text)
        if found is None:
            raise UnexpectedReply(f"no request link in {kit.text[:200]!r}")

        # The share button opens the chat picker: the inline query, then the card posted into their chat.
        typed = time.perf_counter()
        results = await emu.inline_query(shopper, found.group(1), chat_type="private", timeout=timeout)
        answered = time.perf_counter()
        result = next((r for r in results if r["id"].startswith("card:")), None)
        if result is None:
            raise UnexpectedReply(f"no card among the inline results {[r['id'] for r in results]}")
        posted = await emu.choose_inline_result(shopper, result, chat=pair.chat)
        self._cards.append((pair.chat.id, int(posted["message_id"])))
        return (card.at - opened, prompt.at - asked, kit.at - skipped, answered - typed), posted

    async def _friend_pays(self, pair: Pair, posted: dict[str, Any]) -> tuple[tuple[float, ...], float]:
        """The friend's part up to paying: the latency of each answered step, and when the payment was posted."""
        emu, replies, timeout, friend = self.emu, self.replies, self.options.reply_timeout, pair.friend
        # The card's button is a t.me link: the bot sees only the /start it opens.
        link = await emu.click(friend, posted, f"Pay for {pair.shopper.first_name}", timeout=timeout)
        opened = time.perf_counter()
        await emu.open_link(friend, link)
        offer = await replies.next(friend.id, has_button(self.method.button), "the friend's offer", timeout=timeout)
        tapped = time.perf_counter()
        await emu.click(friend, offer.message, self.method.button, timeout=timeout)
        invoice = await replies.next(friend.id, is_invoice, "the invoice", timeout=timeout)
        # pay_invoice waits for the pre-checkout answer, then only posts the successful_payment.
        paying = time.perf_counter()
        await emu.pay_invoice(friend, invoice.message, timeout=timeout)
        paid = time.perf_counter()
        return (offer.at - opened, invoice.at - tapped, paid - paying), paid

    async def _paid_card(self, card_at: Hashable, friend: User) -> Reply | None:
        """The card's edit to "Paid by <friend>" (None if it does not come), skipping "<friend> is paying…"."""
        paying, paid = f"{friend.first_name} is paying", f"Paid by {friend.first_name}"
        while (edit := await self.card_edits.next_if_any(card_at, CARD_GRACE_SECONDS)) is not None:
            if paid in edit.text:
                return edit
            if paying not in edit.text:
                raise UnexpectedReply(f"expected the card {card_at} to say {paying!r} or {paid!r}: {edit.text!r}")
        return None

    def _count_stale_cards(self) -> None:
        """Cards of the run just ended that do not say "Paid by" now, by what they say instead."""
        cards, self._cards = self._cards, []
        for chat_id, message_id in cards:
            shown = str(next(m for m in self.emu.chat_messages(chat_id) if m["message_id"] == message_id).get("text"))
            if "Paid by" not in shown:
                # "is paying": an edit made before the payment's reached the card after it; a card never edited
                # was not yet recorded (chosen_inline_result) when the bot refreshed the request's cards.
                self.stale_cards[STALE_PAYING if "is paying" in shown else STALE_UNEDITED] += 1

    def _left_for_nobody(self) -> None:
        # Every admin message reaches BotReplies' queue for the admin too; the journeys took theirs by token.
        self.replies.discard(self.admin.id)
        self._count_stale_cards()

    async def warm_up(self) -> None:
        links = self.orders.take(self.warmup)
        await closed_loop(self.options.concurrency, links, PeoplePool(self.pairs), self.journey)
        self._left_for_nobody()

    async def throughput(self, bot: Measured) -> Throughput:
        links = self.orders.take(self.options.flows)
        watch = Stopwatch(bot, self.updates)
        journeys = await closed_loop(self.options.concurrency, links, PeoplePool(self.pairs), self.journey)
        spent = watch.read()
        self._left_for_nobody()
        check_count(spent.updates, len(journeys))
        return Throughput.of(
            concurrency=self.options.concurrency,
            unit=self.unit,
            items=len(journeys),
            spent=spent,
            reply=Latency.of([step for journey in journeys for step in journey.replies]),
            pre_checkout=Latency.of([journey.pre_checkout for journey in journeys]),
        )

    async def fixed_rate(self, bot: Measured, rate: float) -> FixedRate:
        count = max(2, math.ceil(rate * self.options.latency_seconds / UPDATES_PER_JOURNEY))
        await self.orders.make(count)  # before the watch starts: making orders is never timed
        self._left_for_nobody()
        links = self.orders.take(count)
        watch = Stopwatch(bot, self.updates)
        # Journeys start evenly spaced so that their updates add up to the offered rate.
        per_s = rate / UPDATES_PER_JOURNEY
        journeys, started = await open_loop(per_s, links, PeoplePool(self.pairs), self.journey)
        spent = watch.read()
        self._left_for_nobody()
        check_count(spent.updates, len(journeys))
        return FixedRate.of(
            offered=rate,
            items=len(journeys),
            items_started_per_s=started,
            spent=spent,
            reply=Latency.of([step for journey in journeys for step in journey.replies]),
            pre_checkout=Latency.of([journey.pre_checkout for journey in journeys]),
            steps={name: Latency.of([j.steps[i] for j in journeys]) for i, name in enumerate(STEPS)},
        )


def card_key(event: dict[str, Any], chats: set[int]) -> Hashable | None:
    """Edits of the request cards in the pairs' chats, by card (nothing else happens in those chats)."""
    if event["type"] != "edit" or event["chat_id"] not in chats:
        return None
    return (event["chat_id"], event["message_id"])


def check_count(updates: dict[str, int], journeys: int) -> None:
    """The journey is what this module says it is: as many updates of each kind as it lists, no more."""
    expected = {
        "callback_query": 3 * journeys,
        "chosen_inline_result": journeys,
        "inline_query": journeys,
        "message": 3 * journeys,
        "pre_checkout_query": journeys,
    }
    if updates != expected:
        raise UnexpectedReply(f"the emulator queued {updates} for {journeys} journeys, expected {expected}")
