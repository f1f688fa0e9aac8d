"""Hundreds of randomized journeys (700 by default) against two real worker processes on one PostgreSQL, behind a
balancer that sends every update, checkout page and provider notice to either worker at random.

Shoppers pay their own orders, ask one friend, post a card or an invoice into a group where several friends
tap at once, split an order between friends chipping in at once, have a friend without Telegram pay on the
request's web page (racing one in Telegram), let a hold lapse or a request expire mid-payment (the request's
clock moved in the database), cancel requests or decline payments; the admin refunds paid orders, a part
first or all at once, double-tapping the confirmation; taps are doubled, payments made twice, updates and
provider notices delivered again. At the end the database and the chats must agree: every order in the state
its payments call for, no charge credited twice or kept without credit, no refund made twice, and every
receipt, note, refund notice, shop callback and card edit sent exactly once.

A second, smaller run (DAIFU_FAULTY_JOURNEYS, 100) does the same while Telegram fails some of the bot's calls
and sends updates the library cannot parse: the money must come out as right, and nobody be told anything twice.

The plan of each journey comes from the seed (printed; DAIFU_JOURNEYS_SEED replays it); timing does not.
DAIFU_JOURNEYS and DAIFU_JOURNEYS_AT_ONCE change how many journeys run, and how many at a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlmodel import col, select, update

from emulator import BotApiEmulator
from emulator.errors import PaymentRefused
from emulator.faults import MALFORMED, Injected, server_error, timeout
from emulator.state import Chat, User
from services.api_keys import ApiKeys
from services.notices import ReturnReason
from storage.database import Database
from storage.models import (
    CallbackDelivery,
    Order,
    OrderEvent,
    OrderStatus,
    Payment,
    PaymentStatus,
    PayRequest,
    Refund,
    RequestCard,
    RequestMode,
    RequestStatus,
    TelegramUpdate,
)
from tests.balancer import Balancer
from tests.databases import DATABASES, PostgresDatabases
from tests.harness import BOT_USERNAME
from tests.ports import free_port
from tests.workers import Worker

JOURNEYS = int(os.environ.get("DAIFU_JOURNEYS", "700"))  # enough to find the races; CI has 15 minutes
AT_ONCE = int(os.environ.get("DAIFU_JOURNEYS_AT_ONCE", "40"))
SHOW = bool(os.environ.get("DAIFU_JOURNEYS_SHOW"))  # progress, then every journey with what the bot said
SEED = int(os.environ.get("DAIFU_JOURNEYS_SEED") or random.SystemRandom().randrange(2**32))
WAIT = 90.0  # seconds for any one answer: both workers are busy with dozens of journeys at once
SHOP = "Bean There"
REQUEST_LINK = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=(r_[A-Za-z0-9_-]+)")
HELD = "is paying for this right now"
RETURNED = (PaymentStatus.REFUNDED, PaymentStatus.REFUND_OWED)
NOT_DONE = col(TelegramUpdate.done_at).is_(None)
# What the worker logs may say without anything having gone wrong.
HARMLESS_LOG = re.compile(r"pre-checkout refused|arrived again; it is handled once")
# What the worker logs may say in the run with faults: the failed calls, and the poison updates kept aside.
FAULT_LOG = re.compile(
    r"telegram\.error\.(NetworkError: Bad Gateway|TimedOut)|: (Bad Gateway|Timed out)$|cannot be parsed; kept aside",
    re.MULTILINE,
)
LOG_RECORD = re.compile(r"^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", re.MULTILINE)  # where each log record begins
TAKEN_AGAIN = re.compile(r"handling update (\d+) again")  # what the inbox's recovery logs
# The run with faults: fewer journeys (it must not slow CI much), the calls that fail, and how often.
FAULTY_JOURNEYS = int(os.environ.get("DAIFU_FAULTY_JOURNEYS", "100"))
FAULTY = ("sendMessage", "editMessageText", "sendPhoto", "answerCallbackQuery")
FAULT_RATE = 0.05
GRACE = 10.0  # seconds a journey a fault touched may go on before it is taken to be stranded
LOSABLE = ("sendMessage", "editMessageText", "sendPhoto")  # calls whose failure keeps a message from a chat


@pytest.fixture
async def postgres_url(request: pytest.FixtureRequest) -> str:
    # Only PostgreSQL lets two processes share the database the way production does.
    if "postgres" not in DATABASES:
        pytest.skip("needs PostgreSQL (DAIFU_TEST_DATABASES leaves it out)")
    postgres: PostgresDatabases = request.getfixturevalue("postgres")
    return await postgres.fresh()


# -- the world: emulator, two workers, balancer -------------------------------------------------------------


class Scene:
    """The emulated Telegram, the two workers behind the balancer, and the steps people take."""

    def __init__(self, emu: BotApiEmulator, balancer: Balancer, api_key: str, admin: User, db: Database) -> None:
        self.emu = emu
        self.db = db  # the shared database: where the tests move a request's clock
        self.balancer = balancer
        self.api_key = api_key
        self.admin = admin
        self.http: aiohttp.ClientSession | None = None
        self.shop_url = ""  # where the shop takes its callbacks
        self.shop_heard: list[dict[str, Any]] = []
        self.page_posts: list[tuple[str, str, int]] = []  # (url, decision, HTTP status)
        self.poisoned: list[int] = []  # update_ids of the updates sent that the library cannot parse

    # reading chats without copying them: thousands of waiters look at them on every change

    def all_said(self, chat: Chat | User, words: str, *, after: int = 0) -> list[dict[str, Any]]:
        messages = self.emu.world.chat(chat).messages.values()
        return [m.data for m in messages if m.from_bot and m.message_id > after and words in text_of(m.data)]

    async def told(self, chat: Chat | User, words: str, *, after: int = 0, count: int = 1) -> list[dict[str, Any]]:
        """Wait until the bot has said these words `count` times after `after`; returns those messages."""

        def enough() -> list[dict[str, Any]] | None:
            found = self.all_said(chat, words, after=after)
            return found[:count] if len(found) >= count else None

        return list(await self.emu.wait_for(enough, timeout=WAIT))

    def mark(self, chat: Chat | User) -> int:
        return self.emu.world.chat(chat).next_message_id - 1

    def now(self, message: dict[str, Any]) -> dict[str, Any]:
        """A message as it is now (cards and offers are edited in place)."""
        return self.emu.world.chat(message["chat"]["id"]).messages[message["message_id"]].data

    # steps

    async def new_order(self, title: str, amount_minor: int, number: int) -> str:
        assert self.http is not None
        async with self.http.post(
            f"{self.balancer.url}/api/v1/orders",
            json={"amount_minor": amount_minor, "currency": "USD", "title": title, "callback_url": self.shop_url},
            headers={"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": f"journey-{number}"},
        ) as answer:
            assert answer.status == 201, await answer.text()
            return str((await answer.json())["token"])

    async def open(self, person: User, token: str) -> dict[str, Any]:
        """Open a t.me/bot?start=<token> link; returns the bot's reply."""
        sent = await self.emu.send_text(person, f"/start {token}")
        return (await self.told(person, "", after=sent["message_id"]))[0]

    async def tap(self, person: User, message: dict[str, Any], label: str) -> Any:
        return await self.emu.click(person, self.now(message), label, timeout=WAIT)

    async def shop_hears(self, request: web.Request) -> web.Response:
        self.shop_heard.append(await request.json())
        return web.Response()

    async def decide(self, url: str, decision: str) -> int:
        """Press Pay or Decline on the sandbox checkout page."""
        assert self.http is not None
        async with self.http.post(url, data={"decision": decision}) as answer:
            await answer.read()
            self.page_posts.append((url, decision, answer.status))
            return answer.status

    async def move_clock(self, request: str, **past: bool) -> None:
        """As if time had passed for this request: its hold lapsed (hold_until) or it expired (expires_at)."""
        then = datetime.now(UTC) - timedelta(seconds=1)
        async with self.db.transaction() as session:
            await session.exec(
                update(PayRequest).where(col(PayRequest.token) == request).values(**dict.fromkeys(past, then))
            )

    async def redeliver(self, update: dict[str, Any], times: int = 1) -> None:
        """Telegram delivers an update again (its answer timed out): both workers may get it at once."""
        await asyncio.gather(*(self.emu.webhooks.post(update) for _ in range(times)))

    def delivered(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [u for u in self.emu.webhooks.delivered if predicate(u)]

    def newest_delivered(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """The latest update delivered that answers to predicate. Looked for from the newest end: waiters ask on every
        change in any chat, and the run delivers tens of thousands of updates."""
        return next((u for u in reversed(self.emu.webhooks.delivered) if predicate(u)), None)

    def lost(self, chat: Chat | User, *words: str) -> int:
        """Messages with all these words that an injected fault kept from the chat (0 in a run without faults)."""
        chat_id = self.emu.world.chat(chat).id
        return sum(
            1
            for injected in self.emu.faults.injected
            if injected.method in LOSABLE
            and not injected.fault.performed
            and chat_of(self.emu, injected.params) == chat_id
            and all(word in str(injected.params.get("text") or injected.params.get("caption") or "") for word in words)
        )

    def edit_lost(self, inline_message_id: str | None) -> bool:
        return any(i.params.get("inline_message_id") == inline_message_id for i in self.emu.faults.injected)


def chat_of(emu: BotApiEmulator, params: dict[str, Any]) -> int | None:
    """The chat a Bot API call was about: named, through its inline message, or through its callback query."""
    world = emu.world
    if "callback_query_id" in params:
        query = world.queries.get(str(params["callback_query_id"]))
        return query.user_id if query else None
    if params.get("inline_message_id"):
        where = world.inline_messages.get(str(params["inline_message_id"]))
        return where[0] if where else None
    chat = params.get("chat_id")
    return chat if isinstance(chat, int) else None


def owed_told(told: int, owed: int, lost: int) -> bool:
    """Told as often as owed, less the messages a fault kept from the chat (never more)."""
    return owed - lost <= told <= owed


def text_of(message: dict[str, Any]) -> str:
    return str(message.get("text") or message.get("caption") or "")


def sender_of(update: dict[str, Any]) -> int | None:
    for kind in ("message", "callback_query", "pre_checkout_query", "inline_query", "chosen_inline_result"):
        if kind in update:
            return int(update[kind]["from"]["id"])
    return None


# -- journeys ---------------------------------------------------------------------------------------------


@dataclass
class Journey:
    number: int
    kind: str
    rng: random.Random
    shopper: User
    title: str
    amount: int
    friends: list[User] = field(default_factory=list)
    order: str = ""
    request: str | None = None
    kit: dict[str, Any] | None = None  # the requester's share kit, with its Cancel request button
    cards: list[dict[str, Any]] = field(default_factory=list)  # request cards posted into groups
    # What this journey knows must have happened; the rest follows from the database (see check_books).
    payer: User | None = None  # the one person whose payment pays the order
    paid: bool | None = None  # None: the race decides, the books must only agree with themselves
    request_status: RequestStatus | None = None
    refused_at_tap: list[User] = field(default_factory=list)
    story: list[str] = field(default_factory=list)
    touched: bool = False  # a call of the bot's to one of its people failed (see run_journeys)
    stranded: bool = False  # left where it stood after a fault

    def note(self, what: str) -> None:
        self.story.append(what)

    @property
    def people(self) -> list[User]:
        return [self.shopper, *self.friends]

    def describe(self) -> str:
        return f"journey {self.number} ({self.kind}, order {self.order}, request {self.request}): " + "; ".join(
            self.story
        )


async def ask(scene: Scene, journey: Journey, *, shares: int | None = None) -> str:
    """The shopper opens the order and asks a friend (or, with shares, friends chipping in) to pay it."""
    emu, shopper = scene.emu, journey.shopper
    card = await scene.open(shopper, journey.order)
    start = scene.mark(shopper)
    await scene.tap(shopper, card, "Split with friends" if shares else "Ask a friend to pay")
    if shares:
        (question,) = await scene.told(shopper, "How many friends will chip in", after=start)
        await scene.tap(shopper, question, str(shares))
    (prompt,) = await scene.told(shopper, "Add a note", after=start)
    if journey.rng.random() < 0.5:
        await scene.tap(shopper, prompt, "Skip")
    else:
        await emu.send_text(shopper, f"for journey {journey.number}")
    (kit,) = await scene.told(shopper, "Your request is ready", after=start)
    match = REQUEST_LINK.search(text_of(kit))
    assert match, text_of(kit)
    journey.kit, journey.request = kit, match.group(1)
    journey.note(f"{shopper.first_name} asked" + (f" in {shares} shares" if shares else ""))
    return match.group(1)


async def share_into_group(scene: Scene, journey: Journey, group: Chat, *, invoice: str | None = None) -> None:
    """Post the request card (or, with a provider, an invoice anyone may pay) into the group."""
    assert journey.request is not None
    results = await scene.emu.inline_query(journey.shopper, journey.request, chat_type="group", timeout=WAIT)
    wanted = f"invoice:{invoice}:" if invoice else "card:"
    chosen = next(r for r in results if r["id"].startswith(wanted))
    posted = await scene.emu.choose_inline_result(journey.shopper, chosen, chat=group)
    if invoice is None:
        journey.cards.append(posted)
    journey.note(f"shared {'an invoice' if invoice else 'the card'} into {group.title}")


async def start_paying(scene: Scene, payer: User, offer: dict[str, Any], method: str, *, taps: int = 1) -> list[Any]:
    """Tap a payment method (more than once for a double tap); returns the bot's answers to the taps."""
    return list(await asyncio.gather(*(scene.tap(payer, offer, method_label(method)) for _ in range(taps))))


def method_label(method: str) -> str:
    return {"sandbox": "sandbox", "card": "Pay by card", "stars": "Pay with Stars"}[method]


async def complete(
    scene: Scene, journey: Journey, payer: User, method: str, *, since: int, checkouts: int = 1, both: bool = False
) -> None:
    """The payer finishes the checkout(s) the bot sent since `since`: on the page, or in the payment sheet.

    both: pay every checkout at once (a double payment); otherwise the first.
    """
    rng = journey.rng
    if method == "sandbox":
        opened = await scene.told(payer, "Open the checkout page", after=since, count=checkouts)
        pages = [await scene.tap(payer, m, "Open checkout page") for m in opened]
        if rng.random() < 0.15:
            declined = await scene.decide(pages[0], "decline")
            journey.note(f"{payer.first_name} declined first ({declined})")
            await scene.told(payer, "was declined", after=since)
        chosen = pages if both else pages[:1]
        statuses = await asyncio.gather(*(scene.decide(page, "pay") for page in chosen))
        journey.note(f"{payer.first_name} paid on {len(chosen)} page(s): {statuses}")
        if rng.random() < 0.3:  # the gateway's notice delivered again, or the page posted twice
            again = await scene.decide(chosen[0], "pay")
            journey.note(f"{payer.first_name} pressed Pay again ({again})")
        return
    invoices = await scene.emu.wait_for(
        lambda: (
            (found := [m for m in scene.all_said(payer, "", after=since) if "invoice" in m])
            and len(found) >= checkouts
            and found
        ),
        timeout=WAIT,
    )
    chosen = invoices if both else invoices[:1]
    outcomes = await asyncio.gather(*(pay_invoice(scene, payer, invoice) for invoice in chosen), return_exceptions=True)
    journey.note(f"{payer.first_name} paid {len(chosen)} {method} invoice(s): {[describe(o) for o in outcomes]}")
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, PaymentRefused):
            raise outcome
    paid = [o for o in outcomes if isinstance(o, dict)]
    assert paid, "no invoice could be paid"
    await duplicate_payment(scene, journey, paid[0])


async def pay_invoice(scene: Scene, payer: User, invoice: dict[str, Any], approved: bool = False) -> dict[str, Any]:
    return await scene.emu.pay_invoice(payer, invoice, timeout=WAIT, already_approved=approved)


def describe(outcome: object) -> str:
    if isinstance(outcome, dict):
        return "paid " + str(outcome["successful_payment"]["telegram_payment_charge_id"])
    return f"{type(outcome).__name__}: {outcome}"


async def duplicate_payment(scene: Scene, journey: Journey, paid: dict[str, Any]) -> None:
    """Telegram sends a successful payment twice: the same update again, or the same charge in a new one."""
    roll = journey.rng.random()
    if roll < 0.2:
        await scene.emu.repeat_payment(paid)
        journey.note("the same charge came again in a new update")
    elif roll < 0.4:
        charge = paid["successful_payment"]["telegram_payment_charge_id"]

        def it(update: dict[str, Any]) -> bool:
            sent = update.get("message", {}).get("successful_payment", {})
            return bool(sent.get("telegram_payment_charge_id") == charge)

        update = await scene.emu.wait_for(lambda: scene.newest_delivered(it), timeout=WAIT)
        await scene.redeliver(update, times=2)
        journey.note("the payment's update was delivered twice more")


async def own_order(scene: Scene, journey: Journey) -> None:
    """The shopper pays the order themselves; sometimes taps twice, sometimes pays both checkouts."""
    rng, shopper = journey.rng, journey.shopper
    method = rng.choice(["sandbox", "sandbox", "card", "stars"])
    taps = 2 if rng.random() < 0.2 else 1
    both = taps == 2 and rng.random() < 0.5
    card = await scene.open(shopper, journey.order)
    since = scene.mark(shopper)
    await start_paying(scene, shopper, card, method, taps=taps)
    journey.note(f"{shopper.first_name} tapped {method} x{taps}")
    await complete(scene, journey, shopper, method, since=since, checkouts=taps, both=both)
    journey.payer, journey.paid = shopper, True


async def one_friend(scene: Scene, journey: Journey) -> None:
    """One friend gets the link and pays it all (or declines, and the request stays open)."""
    rng = journey.rng
    friend = journey.friends[0]
    request = await ask(scene, journey)
    offer = await scene.open(friend, request)
    assert f"{journey.shopper.first_name} asks you to pay" in text_of(offer), text_of(offer)
    method = rng.choice(["sandbox", "card", "stars"])
    since = scene.mark(friend)
    taps = 2 if rng.random() < 0.15 else 1
    await start_paying(scene, friend, offer, method, taps=taps)
    journey.note(f"{friend.first_name} tapped {method} x{taps}")
    await complete(scene, journey, friend, method, since=since, checkouts=taps)
    journey.payer, journey.paid, journey.request_status = friend, True, RequestStatus.PAID


async def declined(scene: Scene, journey: Journey) -> None:
    """A friend starts paying and declines on the page: told so; the request stays open for someone else."""
    friend = journey.friends[0]
    request = await ask(scene, journey)
    offer = await scene.open(friend, request)
    since = scene.mark(friend)
    await start_paying(scene, friend, offer, "sandbox")
    (opened,) = await scene.told(friend, "Open the checkout page", after=since)
    page = await scene.tap(friend, opened, "Open checkout page")
    status = await scene.decide(page, "decline")
    journey.note(f"{friend.first_name} declined ({status})")
    await scene.told(friend, "was declined", after=since)
    journey.paid, journey.request_status = False, RequestStatus.OPEN


async def group_card_race(scene: Scene, journey: Journey) -> None:
    """The card goes into a group; every friend taps "Pay for …" and a method at once: one holds, the rest
    are told who is paying; the one who holds pays."""
    rng, emu = journey.rng, scene.emu
    group = emu.add_group(f"Group {journey.number}", members=journey.people)
    request = await ask(scene, journey)
    await share_into_group(scene, journey, group)
    method = rng.choice(["sandbox", "card", "stars"])
    card = journey.cards[0]

    async def try_to_pay(friend: User) -> tuple[User, int, Any]:
        link = await scene.tap(friend, card, f"Pay for {journey.shopper.first_name}")
        assert request in link
        offer = await scene.open(friend, request)
        since = scene.mark(friend)
        if HELD in text_of(offer):
            return friend, since, {"text": text_of(offer), "show_alert": True}  # someone held it before the tap
        return friend, since, (await start_paying(scene, friend, offer, method))[0]

    tries = await asyncio.gather(*(try_to_pay(friend) for friend in journey.friends))
    winners = [(friend, since) for friend, since, answer in tries if not (answer and answer.get("show_alert"))]
    losers = [(friend, answer) for friend, _since, answer in tries if answer and answer.get("show_alert")]
    journey.note(f"winners {[f.first_name for f, _ in winners]}, refused {[f.first_name for f, _ in losers]}")
    assert len(winners) == 1, f"{len(winners)} friends got a checkout for one request"
    for _friend, answer in losers:
        assert HELD in answer["text"] and winners[0][0].first_name in answer["text"], answer
    journey.refused_at_tap = [friend for friend, _ in losers]
    winner, since = winners[0]
    await complete(scene, journey, winner, method, since=since)
    journey.payer, journey.paid, journey.request_status = winner, True, RequestStatus.PAID


async def group_invoice_race(scene: Scene, journey: Journey) -> None:
    """An invoice goes into a group; every friend presses Pay at once: Telegram asks the bot at pre-checkout
    and exactly one is let through."""
    rng, emu = journey.rng, scene.emu
    group = emu.add_group(f"Group {journey.number}", members=journey.people)
    await ask(scene, journey)
    provider = rng.choice(["telegram", "stars"])
    await share_into_group(scene, journey, group, invoice=provider)
    invoice = next(m.data for m in emu.world.chat(group).messages.values() if "invoice" in m.data)
    answers = await asyncio.gather(*(emu.pre_checkout(friend, invoice, timeout=WAIT) for friend in journey.friends))
    let_through = [friend for friend, answer in zip(journey.friends, answers, strict=True) if answer["ok"]]
    refusals = [answer["error_message"] for answer in answers if not answer["ok"]]
    journey.note(f"pre-checkout let {[f.first_name for f in let_through]} through; refused {len(refusals)}")
    assert len(let_through) == 1, f"{len(let_through)} friends were let through pre-checkout for one request"
    assert all("Someone else is paying" in refusal for refusal in refusals), refusals
    winner = let_through[0]
    paid = await pay_invoice(scene, winner, invoice, approved=True)
    await duplicate_payment(scene, journey, paid)
    journey.payer, journey.paid, journey.request_status = winner, True, RequestStatus.PAID


async def chip_in(scene: Scene, journey: Journey) -> None:
    """Friends chip in at once: each a share, or (greedy) all that is left. Parts that no longer fit go back."""
    rng, emu = journey.rng, scene.emu
    shares = len(journey.friends)
    greedy = rng.random() < 0.25
    request = await ask(scene, journey, shares=shares)
    if rng.random() < 0.5:
        await share_into_group(scene, journey, emu.add_group(f"Group {journey.number}", members=journey.people))

    async def pay_part(friend: User) -> None:
        offer = await scene.open(friend, request)
        if "already been paid" in text_of(offer):
            journey.note(f"{friend.first_name} found it paid")
            return
        choice = "Pay all that is left" if greedy or rng.random() < 0.2 else "Chip in a share"
        if choice not in str(offer.get("reply_markup")):
            choice = "Pay all that is left"  # what is left is less than a share
        if choice not in str(offer.get("reply_markup")):
            journey.note(f"{friend.first_name} found all that is left being paid: {text_of(offer)}")
            return
        since = scene.mark(friend)
        journey.note(f"{friend.first_name} taps {choice!r}")
        answer = await scene.tap(friend, offer, choice)
        if answer and answer.get("show_alert"):
            journey.note(f"{friend.first_name} was refused: {answer['text']}")
            return
        methods = await emu.wait_for(
            lambda: "How do you want to pay" in text_of(scene.now(offer)) and scene.now(offer), timeout=WAIT
        )
        answer = await scene.tap(friend, methods, "sandbox")
        if answer and answer.get("show_alert"):
            journey.note(f"{friend.first_name} was refused: {answer['text']}")
            return
        (opened,) = await scene.told(friend, "Open the checkout page", after=since)
        page = await scene.tap(friend, opened, "Open checkout page")
        status = await scene.decide(page, "pay")
        journey.note(f"{friend.first_name} paid ({status})")
        if rng.random() < 0.2:
            journey.note(f"{friend.first_name} pressed Pay again ({await scene.decide(page, 'pay')})")

    await asyncio.gather(*(pay_part(friend) for friend in journey.friends))
    if not greedy and journey.amount % shares == 0 and not any("Pay all" in line for line in journey.story):
        # Equal shares that add up to the order: the friends cover it whatever the order they pay in.
        journey.paid, journey.request_status = True, RequestStatus.PAID


async def cancelled(scene: Scene, journey: Journey) -> None:
    """The shopper cancels the request, sometimes while a friend is paying: whatever got in goes back."""
    rng = journey.rng
    split = rng.random() < 0.5
    request = await ask(scene, journey, shares=2 if split else None)
    friend = journey.friends[0]
    assert journey.kit is not None
    kit = journey.kit

    async def friend_pays() -> None:
        offer = await scene.open(friend, request)
        since = scene.mark(friend)
        if not offer.get("reply_markup"):
            journey.note(f"{friend.first_name} found it closed: {text_of(offer)}")
            return
        if split:
            answer = await scene.tap(friend, offer, "Chip in a share")
            if answer and answer.get("show_alert"):
                journey.note(f"{friend.first_name} was refused: {answer['text']}")
                return
            offer = await scene.emu.wait_for(
                lambda: "How do you want to pay" in text_of(scene.now(offer)) and scene.now(offer), timeout=WAIT
            )
        answer = (await start_paying(scene, friend, offer, "sandbox"))[0]
        if answer and answer.get("show_alert"):
            journey.note(f"{friend.first_name} was refused: {answer['text']}")
            return
        (opened,) = await scene.told(friend, "Open the checkout page", after=since)
        page = await scene.tap(friend, opened, "Open checkout page")
        journey.note(f"{friend.first_name} paid ({await scene.decide(page, 'pay')})")

    async def shopper_cancels() -> None:
        answer = await scene.tap(journey.shopper, kit, "Cancel request")
        journey.note(f"{journey.shopper.first_name} cancelled: {answer.get('text') if answer else answer}")

    roll = rng.random()
    if roll < 0.3:
        await shopper_cancels()
        journey.paid, journey.request_status = False, RequestStatus.CANCELLED
        after = await scene.open(friend, request)
        assert "was cancelled" in text_of(after), text_of(after)
    elif roll < 0.6 and split:
        await friend_pays()  # half of it is in
        await shopper_cancels()
        journey.paid, journey.request_status = False, RequestStatus.CANCELLED
    else:
        await asyncio.gather(friend_pays(), shopper_cancels())  # the race decides; the books must agree


async def clock_moves(scene: Scene, journey: Journey) -> None:
    """Time passes mid-journey: a friend's hold lapses on the checkout page and a second friend takes the request,
    then both press Pay at once (one payment is kept, the other given back); or the request expires while a
    friend is on the checkout page (the payment goes back, and nobody can start another)."""
    rng = journey.rng
    first, second = journey.friends[:2]
    request = await ask(scene, journey)

    async def checkout_page(friend: User) -> str:
        offer = await scene.open(friend, request)
        since = scene.mark(friend)
        answer = (await start_paying(scene, friend, offer, "sandbox"))[0]
        assert not (answer and answer.get("show_alert")), answer
        (opened,) = await scene.told(friend, "Open the checkout page", after=since)
        return str(await scene.tap(friend, opened, "Open checkout page"))

    page = await checkout_page(first)
    if rng.random() < 0.5:
        await scene.move_clock(request, hold_until=True)
        journey.note(f"{first.first_name}'s hold lapsed on the checkout page")
        second_page = await checkout_page(second)  # the lapsed hold lets the next friend start
        statuses = await asyncio.gather(scene.decide(page, "pay"), scene.decide(second_page, "pay"))
        journey.note(f"both pressed Pay: {statuses}")
        journey.paid, journey.request_status = True, RequestStatus.PAID
        return
    since = scene.mark(first)
    await scene.move_clock(request, expires_at=True)
    journey.note(f"the request expired while {first.first_name} was on the checkout page")
    journey.note(f"{first.first_name} paid ({await scene.decide(page, 'pay')})")
    await scene.told(first, "The request expired before your payment arrived", after=since)
    late = await scene.open(second, request)
    assert "expired" in text_of(late) and not late.get("reply_markup"), text_of(late)
    journey.paid = False


FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


async def web_friend(scene: Scene, journey: Journey) -> None:
    """A friend without Telegram pays on the request's web page (through the balancer, so the page, the form
    and the checkout may each reach a different worker); half the time a Telegram friend taps at the same
    moment, and the hold lets one of them pay."""
    rng = journey.rng
    request = await ask(scene, journey)
    rival = journey.friends[0]
    race = rng.random() < 0.5
    page_url = f"{scene.balancer.url}/r/{request}"

    async def on_the_web(browser: aiohttp.ClientSession) -> None:
        async with browser.get(page_url) as answer:
            assert answer.status == 200, answer.status
            found = FORM_TOKEN.search(await answer.text())
        assert found, "the request page shows no payment form"
        form = {"form_token": found.group(1), "name": "Wei", "method": "sandbox"}
        async with browser.post(page_url, data=form, allow_redirects=False) as answer:
            status, checkout = answer.status, answer.headers.get("Location")
        if status != 303 or checkout is None:
            journey.note(f"Wei was refused on the web page ({status})")
            return
        journey.note(f"Wei paid on the web ({await scene.decide(checkout, 'pay')})")

    async def in_telegram() -> None:
        offer = await scene.open(rival, request)
        since = scene.mark(rival)
        if not offer.get("reply_markup"):  # Wei holds it already: the offer says who is paying, with no button
            journey.note(f"{rival.first_name} was told: {text_of(offer)}")
            journey.refused_at_tap.append(rival)
            return
        answer = (await start_paying(scene, rival, offer, "sandbox"))[0]
        if answer and answer.get("show_alert"):
            journey.note(f"{rival.first_name} was refused: {answer['text']}")
            journey.refused_at_tap.append(rival)
            return
        journey.note(f"{rival.first_name} holds it")
        await complete(scene, journey, rival, "sandbox", since=since)

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        await asyncio.gather(on_the_web(browser), *([in_telegram()] if race else []))
    # Whoever held it first paid; the other was refused before any money moved.
    journey.paid, journey.request_status = True, RequestStatus.PAID


async def admin_refund(scene: Scene, journey: Journey) -> None:
    """The shopper pays; the admin refunds the order, sometimes a part first and then the rest, sometimes with
    "Yes, refund" tapped twice at once (the taps may reach both workers): each refund gives money back once."""
    rng, shopper = journey.rng, journey.shopper
    method = rng.choice(["sandbox", "sandbox", "stars", "card"])
    card = await scene.open(shopper, journey.order)
    since = scene.mark(shopper)
    await start_paying(scene, shopper, card, method)
    await complete(scene, journey, shopper, method, since=since)
    await scene.told(shopper, "Payment received", after=since)
    journey.payer = shopper
    part = rng.randint(1, journey.amount - 1) if method == "sandbox" and rng.random() < 0.5 else None
    for minor in [part, None] if part else [None]:
        await refund_by_admin(scene, journey, minor)


async def refund_by_admin(scene: Scene, journey: Journey, minor: int | None) -> None:
    """/refund <order> [amount], then "Yes, refund" once or twice; waits for the question to say what happened."""
    admin = scene.admin
    since = scene.mark(admin)
    await scene.emu.send_text(admin, f"/refund {journey.order}" + (f" {minor / 100:.2f}" if minor else ""))
    (question,) = await scene.told(admin, f"{journey.title}?", after=since)
    taps = 2 if journey.rng.random() < 0.3 else 1
    await asyncio.gather(*(scene.tap(admin, question, "Yes, refund") for _ in range(taps)))

    def answered() -> str | None:
        said = text_of(scene.now(question))
        return said if "Refunded" in said or "recorded as owed" in said else None

    outcome = await scene.emu.wait_for(answered, timeout=WAIT)
    journey.note(f"the admin refunded {minor or 'what was left'} with {taps} tap(s): {outcome!r}")


KINDS: dict[str, tuple[int, int, Callable[[Scene, Journey], Awaitable[None]]]] = {
    # kind: (weight, friends, journey)
    "own order": (20, 0, own_order),
    "one friend": (20, 1, one_friend),
    "group card race": (15, 4, group_card_race),
    "group invoice race": (10, 4, group_invoice_race),
    "chip-in": (20, 3, chip_in),
    "cancelled": (10, 1, cancelled),
    "declined": (5, 1, declined),
    "web friend": (10, 1, web_friend),
    "clock moves": (10, 2, clock_moves),
    "admin refund": (10, 0, admin_refund),
}


def plan(number: int, emu: BotApiEmulator) -> Journey:
    rng = random.Random(f"{SEED}:{number}")
    kind = rng.choices(list(KINDS), weights=[weight for weight, _n, _j in KINDS.values()])[0]
    _weight, friends, _journey = KINDS[kind]
    if kind in ("group card race", "group invoice race"):
        friends = rng.randint(2, 4)
    elif kind == "chip-in":
        friends = rng.randint(2, 3)
    amount = rng.randint(1, 400) * 100 if rng.random() < 0.7 else rng.randint(100, 40000)
    shopper = emu.add_user(f"S{number}")
    people = [emu.add_user(f"F{number}{chr(ord('a') + n)}") for n in range(friends)]
    return Journey(number, kind, rng, shopper, f"Item {number}", amount, friends=people)


async def run_journey(scene: Scene, journey: Journey, failures: list[str]) -> None:
    try:
        journey.order = await scene.new_order(journey.title, journey.amount, journey.number)
        await KINDS[journey.kind][2](scene, journey)
        if journey.rng.random() < 0.3:
            # Telegram sends some of the journey's updates again, while the workers may still be at them.
            mine = {person.id for person in journey.people}
            again = scene.delivered(lambda u: sender_of(u) in mine)
            picked = journey.rng.sample(again, min(len(again), journey.rng.randint(1, 3)))
            await asyncio.gather(*(scene.redeliver(update, times=2) for update in picked))
            journey.note(f"updates {[u['update_id'] for u in picked]} delivered twice more")
    except Exception as error:  # any of them: the report says which journey, with its story so far
        failures.append(f"{journey.describe()}\n  {type(error).__name__}: {error}\n{traceback.format_exc(limit=3)}")


# -- checking the books and the chats ---------------------------------------------------------------------


async def settle(scene: Scene, db: Database) -> None:
    """Wait until Telegram has nothing left to deliver, every update is done and the chats are quiet."""
    deadline = time.monotonic() + WAIT
    quiet_since, seen = time.monotonic(), len(scene.emu.calls)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        async with db.transaction() as session:
            unfinished = (await session.exec(select(TelegramUpdate.update_id).where(NOT_DONE))).all()
        if len(scene.emu.calls) != seen:
            quiet_since, seen = time.monotonic(), len(scene.emu.calls)
        if not scene.emu.pending_updates and not unfinished and time.monotonic() - quiet_since > 2:
            return
    raise AssertionError(f"the workers never went quiet: {len(scene.emu.pending_updates)} updates pending")


async def check_books(scene: Scene, db: Database, journeys: list[Journey]) -> list[str]:
    """Every order, payment, request and card against the chats; returns what is wrong."""
    problems: list[str] = []
    async with db.transaction() as session:
        orders = {o.token: o for o in (await session.exec(select(Order))).all()}
        payments = list((await session.exec(select(Payment))).all())
        requests = {r.token: r for r in (await session.exec(select(PayRequest))).all()}
        cards = list((await session.exec(select(RequestCard))).all())
        outbox = list((await session.exec(select(CallbackDelivery).order_by(col(CallbackDelivery.id)))).all())
        refunds: dict[int, list[Refund]] = defaultdict(list)
        for refund in (await session.exec(select(Refund).order_by(col(Refund.id)))).all():
            refunds[refund.payment_id].append(refund)
        declines = Counter(
            (event.order_id, event.actor_id)
            for event in (await session.exec(select(OrderEvent).where(OrderEvent.kind == "payment_declined"))).all()
        )
    problems += check_shop(scene, orders, outbox, {j.order: j for j in journeys}, payments, refunds)
    by_order: dict[int | None, list[Payment]] = defaultdict(list)
    for payment in payments:
        by_order[payment.order_id].append(payment)
    charges = Counter((p.provider, p.provider_ref) for p in payments if p.provider_ref)
    problems += [f"charge {ref} recorded {n} times" for ref, n in charges.items() if n > 1]
    emulated = {charge for charge in scene.emu.world.payments}
    recorded = {p.provider_ref for p in payments if p.provider in ("telegram", "stars")}
    problems += [f"Telegram charge {c} is not in the books" for c in sorted(emulated - recorded)]

    admin_says = [text_of(m) for m in scene.emu.bot_messages(scene.admin)]
    for journey in journeys:
        if not journey.order:
            continue
        wrong = [f"{journey.describe()}:"]
        order = orders[journey.order]
        mine = by_order[order.id]
        charged = [p for p in mine if p.provider_ref is not None]
        credited = [p for p in charged if p.credited]
        request = requests.get(journey.request) if journey.request else None
        split = request is not None and request.mode == RequestMode.SPLIT
        covered = sum((p.credit_minor if split else order.amount_minor) or 0 for p in credited)
        if split and request is not None and covered != request.covered_minor:
            wrong.append(f"the request says {request.covered_minor} covered, credited parts add up to {covered}")
        if covered > order.amount_minor:
            wrong.append(f"credited {covered} for an order of {order.amount_minor}")
        if journey.kind == "admin refund" and not journey.stranded:
            # All of it went back: the order is refunded, unless a card refund is owed (made at the provider).
            owed = any(p.status == PaymentStatus.REFUND_OWED for p in credited)
            expected = OrderStatus.PAID if owed else OrderStatus.REFUNDED
            if order.status != expected or not credited or any(p.status not in RETURNED for p in credited):
                wrong.append(f"order is {order.status} after the admin refunded it: {[p.status for p in credited]}")
        elif (order.status == OrderStatus.PAID) != (covered == order.amount_minor):
            wrong.append(f"order is {order.status} with {covered} of {order.amount_minor} credited")
        if not split and len(credited) > 1:
            wrong.append(f"{len(credited)} payments credited to one order")
        if journey.paid is not None and (order.status == OrderStatus.PAID) != journey.paid:
            wrong.append(f"order is {order.status}, expected {'paid' if journey.paid else 'unpaid'}")
        if journey.payer is not None and journey.paid and order.payer_id != journey.payer.id:
            wrong.append(f"order paid by {order.payer_id}, expected {journey.payer.first_name}")
        if journey.request_status is not None and (request is None or request.status != journey.request_status):
            wrong.append(f"request is {request.status if request else None}, expected {journey.request_status}")
        if request is not None and request.status == RequestStatus.PAID and order.status != OrderStatus.PAID:
            wrong.append(f"request paid but order {order.status}")
        for payment in charged:
            kept = payment.credited and payment.status == PaymentStatus.SUCCEEDED
            returned = payment.status in RETURNED
            if not kept and not returned:
                wrong.append(f"charge {payment.provider_ref} neither credited nor given back: {payment.status}")
            closed = request is not None and request.status in (RequestStatus.CANCELLED, RequestStatus.EXPIRED)
            by_shop = any(refund.reason == ReturnReason.SHOP_REFUND for refund in refunds[payment.id or 0])
            if payment.credited and returned and not closed and not by_shop:
                wrong.append(f"charge {payment.provider_ref} credited and given back")
            given = sum(refund.amount_minor for refund in refunds[payment.id or 0])
            if given != payment.refunded_minor or given > payment.amount_minor or (returned and given == 0):
                wrong.append(f"charge {payment.provider_ref} of {payment.amount_minor}: refunds of {given} recorded")
        wrong += check_chats(scene, journey, order, charged, request, admin_says, refunds)
        for person in journey.people:
            told = len(scene.all_said(person, "was declined"))
            if not owed_told(told, declines[(order.id, person.id)], scene.lost(person, "was declined")):
                wrong.append(f"{person.first_name} told of {told} declines, made {declines[(order.id, person.id)]}")
        for card in (c for c in cards if request is not None and c.request_id == request.id):
            if not scene.edit_lost(card.inline_message_id):  # a card whose edit a fault kept back is stale
                wrong += check_card(scene, journey, card, request, order)
        if len(wrong) > 1:
            problems.append("\n  ".join(wrong))
    return problems


def check_chats(
    scene: Scene,
    journey: Journey,
    order: Order,
    charged: list[Payment],
    request: PayRequest | None,
    admin_says: list[str],
    refunds: dict[int, list[Refund]],
) -> list[str]:
    """Each payer one receipt per charge kept, one refund notice per refund (a charge may go back in parts);
    the requester one note per charge kept, the admin one per charge kept and one per refund; nobody a receipt
    for nothing."""
    wrong: list[str] = []
    names = {person.id: person for person in journey.people}
    for payment in charged:
        if payment.payer_id is None and journey.kind == "web friend":
            continue  # paid on the web page: no chat to be told in (the page said it)
        payer = names.get(payment.payer_id or 0)
        if payer is None:
            wrong.append(f"charge {payment.provider_ref} by a stranger {payment.payer_id}")
            continue
        receipts = scene.all_said(payer, f"Payment reference: {payment.provider_ref}")
        lost = scene.lost(payer, f"Payment reference: {payment.provider_ref}")
        if payment.credited and not owed_told(len(receipts), 1, lost):
            wrong.append(f"{payer.first_name} got {len(receipts)} receipts for {payment.provider_ref}")
        if not payment.credited and receipts:
            wrong.append(f"{payer.first_name} got a receipt for {payment.provider_ref}, which was not credited")
    for person in journey.people:
        given_back = [r for p in charged if p.payer_id == person.id for r in refunds[p.id or 0]]
        told_back = [
            m
            for m in scene.all_said(person, order.title)
            if "has been refunded" in text_of(m) or "will be refunded by the shop" in text_of(m)
        ]
        lost = scene.lost(person, order.title, "has been refunded") + scene.lost(
            person, order.title, "will be refunded by the shop"
        )
        if not owed_told(len(told_back), len(given_back), lost):
            wrong.append(f"{person.first_name} told of {len(told_back)} refunds, {len(given_back)} were made")
        received = scene.all_said(person, "Payment received")
        owed = sum(1 for p in charged if p.payer_id == person.id and p.credited)
        if not owed_told(len(received), owed, scene.lost(person, "Payment received")):
            wrong.append(f"{person.first_name} got {len(received)} receipts")
    kept = [p for p in charged if p.credited]
    notes = [t for t in admin_says if f": order #{order.id} · " in t and "💰" in t]
    if len(notes) != len(kept):
        wrong.append(f"the admin got {len(notes)} payment notes for {len(kept)} charges kept")
    back = [t for t in admin_says if f"for order #{order.id} · " in t and ("Refunded" in t or "Refund owed" in t)]
    made = sum(len(refunds[p.id or 0]) for p in charged)
    if len(back) != made:
        wrong.append(f"the admin got {len(back)} refund notes for {made} refunds")
    if request is not None:
        for_friends = [p for p in kept if p.payer_id != request.requester_id]
        told = scene.all_said(journey.shopper, "paid for you") + scene.all_said(journey.shopper, "chipped in")
        lost = scene.lost(journey.shopper, "paid for you") + scene.lost(journey.shopper, "chipped in")
        if not owed_told(len(told), len(for_friends), lost):
            wrong.append(f"{journey.shopper.first_name} was told of {len(told)} payments, {len(for_friends)} kept")
        if (
            request.status == RequestStatus.PAID
            and request.mode == RequestMode.SPLIT
            and not scene.all_said(journey.shopper, "covered the whole order")
            and not scene.lost(journey.shopper, "covered the whole order")
        ):
            wrong.append(f"{journey.shopper.first_name} never heard the order was covered")
    for person in journey.refused_at_tap:
        checkouts = scene.all_said(person, "Open the checkout page") + [
            m.data for m in scene.emu.world.chat(person).messages.values() if "invoice" in m.data
        ]
        if checkouts or scene.all_said(person, "Payment received"):
            wrong.append(f"{person.first_name} was refused but got a checkout or a receipt")
    return wrong


def check_shop(
    scene: Scene,
    orders: dict[str, Order],
    outbox: list[CallbackDelivery],
    journeys: dict[str, Journey],
    payments: list[Payment],
    refunds: dict[int, list[Refund]],
) -> list[str]:
    """The shop's callbacks: order.paid once for each paid order, then order.refunded for each refund of money
    the order kept, nothing for an order nobody paid; and every callback delivered so far heard by the shop (the
    delivery job runs every 30 s: not all are)."""
    wrong = []
    kinds: dict[int, list[str]] = defaultdict(list)
    for row in outbox:
        kinds[row.order_id].append(row.kind)
    kept_back: Counter[int] = Counter()
    for payment in payments:
        if payment.credited:
            kept_back[payment.order_id] += sum(refund.status == "done" for refund in refunds[payment.id or 0])
    for order in orders.values():
        assert order.id is not None
        ever_paid = order.status in (OrderStatus.PAID, OrderStatus.REFUNDED)
        owed = ["order.paid"] + ["order.refunded"] * kept_back[order.id] if ever_paid else []
        queued = kinds[order.id]
        if queued != owed:
            journey = journeys[order.token].describe() if order.token in journeys else f"order {order.token}"
            wrong.append(f"{journey}: the order is {order.status}; the shop is to hear {kinds[order.id]}")
    heard = {event["id"] for event in scene.shop_heard}
    wrong += [
        f"callback {row.event_id} delivered but not heard"
        for row in outbox
        if row.delivered_at and row.event_id not in heard
    ]
    sent = {row.event_id for row in outbox}
    wrong += [
        f"the shop heard {event['id']}, which was never sent" for event in scene.shop_heard if event["id"] not in sent
    ]
    return wrong


def check_card(scene: Scene, journey: Journey, card: RequestCard, request: PayRequest, order: Order) -> list[str]:
    world = scene.emu.world
    located = world.inline_messages.get(card.inline_message_id or "")
    if located is None:
        return [f"card {card.inline_message_id} is not in any chat"]
    message = world.chat(located[0]).messages[located[1]].data
    text = text_of(message)
    expected = {
        RequestStatus.PAID: "Covered by friends ✅" if request.mode == RequestMode.SPLIT else "Paid by",
        RequestStatus.CANCELLED: "Cancelled",
        RequestStatus.OPEN: "Until:",
    }[request.status]
    wrong = []
    if expected not in text:
        wrong.append(f"the card says {text!r} of a {request.status} request")
    if (request.status == RequestStatus.OPEN) != bool(message.get("reply_markup")):
        wrong.append(f"the card of a {request.status} request has buttons: {message.get('reply_markup')}")
    single = request.mode == RequestMode.SINGLE
    if (
        request.status == RequestStatus.PAID
        and single
        and journey.payer is not None
        and f"Paid by {journey.payer.first_name} ✅" not in text
    ):
        wrong.append(f"the card says {text!r}, {journey.payer.first_name} paid")
    return wrong


async def lost(db: Database, journeys: list[Journey], workdirs: list[Path]) -> list[str]:
    """Updates the inbox's recovery handed to a worker again, as if lost with a crashed one (no worker crashes
    here: each of them is a worker that took too long, or a lease not renewed): what they were, and whose."""
    again = {
        int(found.group(1))
        for workdir in workdirs
        for found in TAKEN_AGAIN.finditer((workdir / "worker.log").read_text(errors="replace"))
    }
    if not again:
        return []
    async with db.transaction() as session:
        rows = (await session.exec(select(TelegramUpdate).where(col(TelegramUpdate.update_id).in_(again)))).all()
    whose = {person.id: journey for journey in journeys for person in journey.people}
    found = []
    for row in rows:
        update = json.loads(row.payload)
        sender = whose.get(sender_of(update) or 0)
        kind = next(k for k in update if k != "update_id")
        done = f"{row.done_at:%H:%M:%S.%f}" if row.done_at else "never"
        found.append(
            f"update {row.update_id} ({kind}, received {row.received_at:%H:%M:%S.%f}, done {done})"
            f" was taken up again; {sender.describe() if sender else 'no journey'}: {row.payload[:300]}"
        )
    return found


def cpu_seconds(workdir: Path) -> float:
    """CPU time a worker process has used so far (Linux)."""
    pid = (workdir / "pid").read_text()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_trouble(workdirs: list[Path], *, faulty: bool = False) -> list[str]:
    """The lines of what the workers logged that says something went wrong; with faults, what a failed call or a
    poison update explains (the record's first line or its traceback names it) is no trouble."""
    lines = []
    for workdir in workdirs:
        for record in LOG_RECORD.split((workdir / "worker.log").read_text(errors="replace")):
            if not record.strip() or HARMLESS_LOG.search(record) or (faulty and FAULT_LOG.search(record)):
                continue
            lines += [f"{workdir.name}: {line}" for line in record.splitlines() if line.strip()]
    return lines


async def healthy(http: aiohttp.ClientSession, worker: Worker) -> None:
    for _ in range(300):
        try:
            async with http.get(f"http://127.0.0.1:{worker.port}/healthz") as answer:
                if answer.status == 200:
                    return
        except aiohttp.ClientConnectorError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"worker on port {worker.port} never came up")


# -- the test ---------------------------------------------------------------------------------------------


@pytest.fixture
async def scene(postgres_url: str, tmp_path: Path) -> AsyncIterator[tuple[Scene, Database, list[Path]]]:
    db = Database(postgres_url)
    api_key = (await ApiKeys(db).create("Journeys", created_by=None)).key
    async with BotApiEmulator(token="123456:TEST-journeys", bot_username=BOT_USERNAME, bot_name="daifu") as emu:
        emu.world.allow_http_webhooks = True
        admin = emu.add_user("Ada")
        rng = random.Random(SEED)
        workers, workdirs = [], []
        balancer = Balancer([], rng=rng)
        scene = Scene(emu, balancer, api_key, admin, db)
        settings = {
            "PAYMENT_PROVIDERS": "sandbox,telegram,stars",
            "STARS_RATES": "USD=50",
            "SHOP_NAME": SHOP,
        }
        for name in ("first", "second"):
            workdir = tmp_path / name
            workdir.mkdir()
            worker = Worker(emu, postgres_url, admin.id, workdir, public_base_url=balancer.url, env=settings)
            workers.append(worker)
            workdirs.append(workdir)
            balancer.workers.append(f"http://127.0.0.1:{worker.port}")
        await balancer.start()
        shop = web.Application()
        shop.router.add_post("/callbacks", scene.shop_hears)
        shop_runner = web.AppRunner(shop, access_log=None)
        await shop_runner.setup()
        shop_port = free_port()
        await web.TCPSite(shop_runner, "127.0.0.1", shop_port).start()
        scene.shop_url = f"http://127.0.0.1:{shop_port}/callbacks"
        for worker, workdir in zip(workers, workdirs, strict=True):
            worker.start()
            assert worker.process is not None
            (workdir / "pid").write_text(str(worker.process.pid))
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
                scene.http = http
                await emu.wait_for(lambda: emu.world.webhook is not None, timeout=30)
                for worker in workers:
                    await healthy(http, worker)
                await emu.send_text(admin, "/help")
                await scene.told(admin, "/my")
                yield scene, db, workdirs
        finally:
            for worker in workers:
                worker.stop()
            await balancer.stop()
            await shop_runner.cleanup()
            await db.dispose()


@pytest.mark.runs_long
async def test_hundreds_of_random_journeys_on_two_workers(scene: tuple[Scene, Database, list[Path]]) -> None:
    report = await run_journeys(*scene, JOURNEYS)
    assert not report, f"seed {SEED}:\n" + "\n\n".join(report[:40])


@pytest.mark.runs_long
async def test_random_journeys_with_faults_on_two_workers(scene: tuple[Scene, Database, list[Path]]) -> None:
    """The same journeys, fewer, while Telegram fails some of the bot's calls (5xx, time-outs) and sends some
    updates the library cannot parse. A journey a fault strands (a checkout or an answer that never came) is left
    where it stands, as a person would walk away; every order must still be right, nothing credited or given back
    twice, and no one told anything twice (told less only by what a fault kept from them)."""
    world, db, workdirs = scene
    emu = world.emu
    emu.faults.reseed(SEED)
    away_from_the_admin = aimed_past(emu, world.admin.id)
    emu.faults.fail(*FAULTY, fault=server_error(502), probability=FAULT_RATE * 2 / 3, when=away_from_the_admin)
    emu.faults.fail(*FAULTY, fault=timeout(6), probability=FAULT_RATE / 3, when=away_from_the_admin)
    report = await run_journeys(world, db, workdirs, FAULTY_JOURNEYS, faulty=True)
    async with db.transaction() as session:
        rejected = (await session.exec(select(TelegramUpdate).where(col(TelegramUpdate.rejection).is_not(None)))).all()
    if sorted(row.update_id for row in rejected) != sorted(world.poisoned):
        report.append(f"poison updates {world.poisoned} sent, {[row.update_id for row in rejected]} kept aside")
    print(f"faults injected: {dict(Counter(i.method for i in emu.faults.injected))}")
    assert emu.faults.count() > 0 and world.poisoned, "the run made no faults"
    assert not report, f"seed {SEED}:\n" + "\n\n".join(report[:40])


def aimed_past(emu: BotApiEmulator, admin_id: int) -> Callable[[dict[str, Any]], bool]:
    """Faults for the shoppers' and friends' chats: the admin's /refund questions and notes are left alone, as the
    journeys read them for their own checks."""
    return lambda params: chat_of(emu, params) not in (admin_id, None)


async def run_journeys(
    world: Scene, db: Database, workdirs: list[Path], count: int, *, faulty: bool = False
) -> list[str]:
    """Run `count` journeys, AT_ONCE at a time, and check the books; returns what is wrong.

    faulty: a journey a fault touched is given GRACE seconds to go on, then left where it stands (stranded: its
    expectations dropped, the books must only agree with themselves); a tenth of the shoppers first send an
    update the library cannot parse."""
    print(f"seed {SEED} ({count} journeys, {AT_ONCE} at a time); replay with DAIFU_JOURNEYS_SEED={SEED}")
    journeys = [plan(number, world.emu) for number in range(1, count + 1)]
    failures: list[str] = []
    slots = asyncio.Semaphore(AT_ONCE)
    began = time.monotonic()
    running: dict[int, asyncio.Task[None]] = {}
    whose = {person.id: journey for journey in journeys for person in journey.people}

    def strand(journey: Journey, why: str = "left where it stood") -> None:
        task = running.get(journey.number)
        if task is not None and not task.done():
            journey.note(f"stranded by a fault: {why}")
            journey.paid, journey.payer, journey.request_status, journey.stranded = None, None, None, True
            task.cancel()

    def on_fault(injected: Injected) -> None:
        chat = world.emu.world.chats.get(chat_of(world.emu, injected.params) or 0)
        people = ([chat.user] if chat.user else chat.members) if chat else []
        for journey in {whose[p.id].number: whose[p.id] for p in people if p.id in whose}.values():
            journey.note(f"{injected.method} failed: {injected.fault.description}")
            journey.touched = True
            asyncio.get_running_loop().call_later(GRACE, strand, journey)

    if faulty:
        world.emu.faults.watchers.append(on_fault)  # the emulator goes when the test ends, and its watchers with it

    async def one(journey: Journey) -> None:
        async with slots:
            if faulty and random.Random(f"{SEED}:poison:{journey.number}").random() < 0.1:
                poison = random.Random(f"{SEED}:{journey.number}").choice(MALFORMED)(journey.shopper)
                world.poisoned.append(world.emu.deliver_raw(poison)["update_id"])
            failed: list[str] = []
            running[journey.number] = task = asyncio.create_task(run_journey(world, journey, failed))
            try:
                await task
            except asyncio.CancelledError:
                if not journey.stranded:
                    raise
            if failed and journey.touched:
                # What a person sees after a failed call ("something went wrong", no button, no answer) ended it.
                why = failed[0].splitlines()[1].strip()
                journey.note(f"stranded by a fault: {why}")
                journey.stranded = True
            else:
                failures.extend(failed)
            if journey.touched:
                # Its people saw something other than the plan foresaw (an error, nothing): what they did then is
                # not what the journey assumes. The books must agree with themselves all the same.
                journey.paid, journey.payer, journey.request_status = None, None, None

    async def progress() -> None:
        # Where the time goes: updates Telegram still holds, and updates the workers took but have not finished.
        while SHOW:
            await asyncio.sleep(5)
            async with db.transaction() as session:
                taken = (await session.exec(select(TelegramUpdate.update_id).where(NOT_DONE))).all()
            print(
                f"{time.monotonic() - began:.0f} s: {len(world.emu.pending_updates)} updates waiting,",
                f"{len(taken)} taken and not finished",
            )

    watcher = asyncio.create_task(progress())
    await asyncio.gather(*(one(journey) for journey in journeys))
    watcher.cancel()
    ran = time.monotonic() - began
    world.emu.faults.clear()  # what the workers still send at the end (late card edits, receipts) goes through
    await settle(world, db)
    problems = await check_books(world, db, journeys)
    trouble = worker_trouble(workdirs, faulty=faulty)
    kinds = Counter(journey.kind for journey in journeys)
    stranded = sum(journey.stranded for journey in journeys)
    print(f"{count} journeys in {ran:.0f} s: {dict(kinds)}; balancer {dict(world.balancer.picked)}")
    if faulty:
        print(
            f"{stranded} journeys stranded by {world.emu.faults.count()} faults, {len(world.poisoned)} poison updates"
        )
    if SHOW:
        print(f"CPU seconds: this process {time.process_time():.0f}, workers {[cpu_seconds(w) for w in workdirs]}")
        for journey in journeys:
            print(journey.describe())
            for person in journey.people:
                for message in world.emu.bot_messages(person):
                    print(f"    to {person.first_name}: {text_of(message)!r}")
    # 200: accepted or declined; 409: "already paid, you were not charged". Anything else leaves a payer in doubt.
    problems += [
        f"the checkout page answered {status} to {decision} at {url}"
        for url, decision, status in world.page_posts
        if status not in (200, 409)
    ]
    taken_again = await lost(db, journeys, workdirs)
    return [*failures, *problems, *(["worker logs:", *trouble[:50]] if trouble else []), *taken_again]
