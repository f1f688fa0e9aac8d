"""Faults the emulated Telegram can be told to make: chosen methods failing, and malformed updates.

A rule names methods and the fault their calls get, for the next N calls or each with a probability (drawn from
the emulator's own seeded random numbers, so a run can be replayed)::

    emu.faults.fail("sendMessage", fault=server_error(502), times=1)
    emu.faults.fail("sendMessage", "editMessageText", fault=timeout(6), probability=0.05)
    emu.faults.fail("editMessageText", fault=telegram_error(400, "Bad Request: message is not modified"))
    emu.faults.fail("sendMessage", when=lambda params: params.get("chat_id") == alice.id)  # a 500 by default
    emu.faults.clear()

A failed call did nothing (Telegram never got it), unless the fault says it was `performed` (the work done, the
answer lost or odd). Every fault answered is in emu.faults.injected and, as an error, in emu.errors.

Malformed updates go into the update stream as given, for getUpdates and the webhook alike:
``emu.deliver_raw(message_without_date(alice))``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import User

NO_RESULT: Any = object()


@dataclass(frozen=True)
class Fault:
    """What a failing call gets instead of its answer."""

    status: int = 500
    description: str = "Internal Server Error"
    retry_after: int | None = None
    body: bytes | None = None  # instead of Telegram's JSON error object: a body that is not JSON
    hang: float = 0.0  # seconds before answering: past the bot's read timeout, a time-out
    result: Any = NO_RESULT  # an ok answer with this result, one the Bot API does not promise (null for an edit)
    performed: bool = False  # the method did its work before the fault (only the answer is lost, or odd)


def server_error(status: int = 500) -> Fault:
    return Fault(status, {502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Internal Server Error"))


def timeout(seconds: float, *, performed: bool = False) -> Fault:
    """No answer for `seconds` (then a 504 that no one may be waiting for any more)."""
    return Fault(504, "Gateway Timeout", hang=seconds, performed=performed)


def bad_json(status: int = 502) -> Fault:
    """A proxy's HTML page where the Bot API's JSON should be."""
    return Fault(status, "Bad Gateway", body=b"<html><body><h1>502 Bad Gateway</h1></body></html>")


def telegram_error(code: int, description: str, *, retry_after: int | None = None) -> Fault:
    """An error answer as Telegram gives it: 400 "Bad Request: ...", 403, or 429 with retry_after."""
    return Fault(code, description, retry_after=retry_after)


def odd_answer(result: Any, *, performed: bool = True) -> Fault:
    """An ok answer whose result is not what the Bot API promises: an independent server's edit answered with null
    (the edit made), or a getUpdates answered [] at once (performed=False: the long poll's timeout ignored)."""
    return Fault(200, "", result=result, performed=performed)


@dataclass(eq=False)
class Rule:
    methods: frozenset[str]
    fault: Fault
    times: int | None = None  # None: as long as the rule stands
    probability: float = 1.0
    when: Callable[[dict[str, Any]], bool] | None = None
    fired: int = 0


@dataclass
class Injected:
    method: str
    params: dict[str, Any]
    fault: Fault


@dataclass
class Faults:
    seed: int = 0
    rules: list[Rule] = field(default_factory=list)
    injected: list[Injected] = field(default_factory=list)
    watchers: list[Callable[[Injected], None]] = field(default_factory=list)  # told of each fault as it is made

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def fail(
        self,
        *methods: str,
        fault: Fault | None = None,
        times: int | None = None,
        probability: float = 1.0,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> Rule:
        """Calls to these methods (their Bot API names) get `fault` (a 500 unless given): the next `times` of them,
        or each with `probability`; only those whose parameters pass `when`, if given."""
        if not methods:
            raise ValueError("name the methods that fail")
        rule = Rule(frozenset(methods), fault or server_error(), times, probability, when)
        self.rules.append(rule)
        return rule

    def clear(self) -> None:
        self.rules.clear()

    def reseed(self, seed: int) -> None:
        """Draw the probabilities from this seed from now on (a run with faults is replayed by its seed)."""
        self.seed = seed
        self.rng = random.Random(seed)

    def pick(self, method: str, params: dict[str, Any]) -> Fault | None:
        """The fault this call gets, if any rule takes it (the first that does, in the order they were made)."""
        for rule in self.rules:
            if method not in rule.methods or (rule.when is not None and not rule.when(params)):
                continue
            if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                continue
            rule.fired += 1
            if rule.times is not None and rule.fired >= rule.times:
                self.rules.remove(rule)
            injected = Injected(method, params, rule.fault)
            self.injected.append(injected)
            for watcher in list(self.watchers):
                watcher(injected)
            return rule.fault
        return None

    def count(self, *methods: str) -> int:
        return sum(1 for injected in self.injected if not methods or injected.method in methods)


# -- malformed updates: what an independent Bot API server (or a newer Telegram) has been seen to send ----------


def _person(user: User) -> dict[str, Any]:
    return user.to_api()


def message_without_date(user: User, text: str = "/help") -> dict[str, Any]:
    """A message the library cannot parse: `date` is required."""
    chat = {"id": user.id, "type": "private", "first_name": user.first_name}
    return {"message": {"message_id": 1_000_000, "from": _person(user), "chat": chat, "text": text}}


def date_in_milliseconds(user: User, text: str = "/help") -> dict[str, Any]:
    """A message dated in milliseconds (telegram-test-api does this): a year past what datetime can hold."""
    chat = {"id": user.id, "type": "private", "first_name": user.first_name}
    message = {"message_id": 1_000_001, "from": _person(user), "chat": chat, "date": int(time.time() * 1000)}
    return {"message": {**message, "text": text}}


def callback_without_chat_instance(user: User, data: str = "x") -> dict[str, Any]:
    """A callback query without its required chat_instance (telegram-test-api drops it)."""
    return {"callback_query": {"id": "999", "from": _person(user), "data": data}}


MALFORMED: Sequence[Callable[[User], dict[str, Any]]] = (
    message_without_date,
    date_in_milliseconds,
    callback_without_chat_instance,
)
