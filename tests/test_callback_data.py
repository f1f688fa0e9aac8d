"""Typed callback data: each codec reads back what it writes, refuses what is not its own, and writes today's
strings byte for byte (buttons sent before an upgrade must work after it)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

import pytest

from handlers.admin_orders import PageTap as OrdersPageTap
from handlers.admin_orders import Turn
from handlers.admin_refund import Answer, AnswerTap
from handlers.ask_friend import AskMode, AskTap, CancelAskingTap, SharesTap, SkipNoteTap
from handlers.callback_data import MAX_BYTES, BadCallbackData, CallbackData, any_button_under
from handlers.checkout import MethodTap
from handlers.friend_pays import OtherAmountTap, PartTap, PayPartTap
from handlers.inline_share import CardResult, InvoiceResult
from handlers.language import LanguageTap
from handlers.my_orders import OrderTap as MyOrderTap
from handlers.my_orders import PageTap as MyOrdersPageTap
from handlers.my_requests import RequestAction, RequestTap
from handlers.newlink import CancelLinkTap, CreateLinkTap, CurrencyTap
from handlers.pay_support import QuoteTap
from handlers.refund_button import RefundStep, RefundTap
from handlers.thanks import CancelThanksTap, ThanksPick, ThanksTap

ROOT = Path(__file__).resolve().parent.parent
ORDER = "WZDEBgUGKND9s4VeZUXztg"  # tokens as new_order_token and the request tokens make them
REQUEST = "r_oY1lb91Xb7FFY_EBk1emJg"

# Every kind of button (and inline result) daifu sends, with the string it sent before the codecs.
TODAY: list[tuple[CallbackData, str]] = [
    (MethodTap("stars", ORDER), f"pay:stars:{ORDER}"),
    (MethodTap("sandbox", ORDER), f"pay:sandbox:{ORDER}"),
    (AskTap(AskMode.ONE, ORDER), f"ask:one:{ORDER}"),
    (AskTap(AskMode.SPLIT, ORDER), f"ask:split:{ORDER}"),
    (SharesTap(3), "askx:n:3"),
    (SkipNoteTap(), "askx:skip"),
    (CancelAskingTap(), "askx:cancel"),
    (RequestTap(RequestAction.QR, REQUEST), f"rq:qr:{REQUEST}"),
    (RequestTap(RequestAction.SHARE, REQUEST), f"rq:share:{REQUEST}"),
    (RequestTap(RequestAction.CANCEL, REQUEST), f"rq:cancel:{REQUEST}"),
    (RequestTap(RequestAction.REMIND, REQUEST), f"rq:remind:{REQUEST}"),
    (PartTap(250, True, REQUEST), f"rs:250:1:{REQUEST}"),
    (PartTap(0, False, REQUEST), f"rs:0:0:{REQUEST}"),
    (OtherAmountTap(True, REQUEST), f"ra:1:{REQUEST}"),
    (PayPartTap("wechatpay", 99999999, False, REQUEST), f"rp:wechatpay:99999999:0:{REQUEST}"),
    (RefundTap(RefundStep.ASK, 42), "refund:ask:42"),
    (RefundTap(RefundStep.YES, 42), "refund:yes:42"),
    (RefundTap(RefundStep.NO, 42), "refund:no:42"),
    (ThanksTap(42), "ty:42"),
    (ThanksTap(42, ThanksPick.SO_MUCH), "ty:42:0"),
    (ThanksTap(42, ThanksPick.THE_BEST), "ty:42:1"),
    (ThanksTap(42, ThanksPick.OWE_YOU), "ty:42:2"),
    (ThanksTap(42, ThanksPick.OWN_WORDS), "ty:42:w"),
    (AnswerTap(Answer.YES, "0a1b2c3d4e5f"), "ar:y:0a1b2c3d4e5f"),
    (AnswerTap(Answer.NO, "0a1b2c3d4e5f"), "ar:n:0a1b2c3d4e5f"),
    (OrdersPageTap("0a1b2c3d4e5f", Turn.NEWER, 17), "ao:0a1b2c3d4e5f:n:17"),
    (OrdersPageTap("0a1b2c3d4e5f", Turn.OLDER, 8), "ao:0a1b2c3d4e5f:o:8"),
    (MyOrdersPageTap(0), "my:0"),
    (MyOrdersPageTap(12), "my:12"),
    (MyOrderTap(8), "my:o:8"),
    (LanguageTap("en"), "lang:en"),
    (LanguageTap("zh_Hans"), "lang:zh_Hans"),
    (CurrencyTap("USD"), "nl:cur:USD"),
    (CreateLinkTap(), "nl:ok"),
    (CancelLinkTap(), "nl:cancel"),
    (CardResult(REQUEST, "3f9a0c1d2e4b"), f"card:{REQUEST}:3f9a0c1d2e4b"),
    (CardResult(REQUEST), f"card:{REQUEST}"),  # as cards were offered before they carried a digest
    (InvoiceResult("stars", REQUEST), f"invoice:stars:{REQUEST}"),
    (QuoteTap(42), "support:42"),
    (CancelThanksTap(), "tyc"),
]
CODECS = sorted({type(tap) for tap, _ in TODAY}, key=lambda codec: codec.__qualname__)


@pytest.mark.parametrize(("tap", "data"), TODAY, ids=[data for _, data in TODAY])
def test_each_codec_writes_and_reads_todays_strings(tap: CallbackData, data: str) -> None:
    assert tap.pack() == data
    assert type(tap).unpack(data) == tap
    assert type(tap).pattern().match(data)
    # Only its own codec reads a string: the handlers' patterns never overlap.
    assert [codec.__name__ for codec in CODECS if codec.pattern().match(data)] == [type(tap).__name__]


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


@dataclass(frozen=True, slots=True)
class Sample(CallbackData):
    prefix: ClassVar[str] = "smp"
    number: int
    flag: bool
    colour: Colour
    word: str
    extra: int | None = None
    more: Colour | None = None


@dataclass(frozen=True, slots=True)
class Step(CallbackData):
    prefix: ClassVar[str] = "smp:go"


@pytest.mark.parametrize(
    "tap",
    [
        Sample(0, False, Colour.RED, "x"),
        Sample(7, True, Colour.GREEN, "数据", 3),
        Sample(12345, False, Colour.RED, "a b_c-d", 0, Colour.GREEN),
        Step(),
    ],
)
def test_a_codec_reads_back_what_it_writes(tap: CallbackData) -> None:
    assert type(tap).unpack(tap.pack()) == tap


def test_optional_fields_are_left_out_from_the_first_that_is_none() -> None:
    assert Sample(7, True, Colour.GREEN, "w").pack() == "smp:7:1:green:w"
    assert Sample(7, True, Colour.GREEN, "w", 5).pack() == "smp:7:1:green:w:5"
    assert Sample(7, True, Colour.GREEN, "w", 5, Colour.RED).pack() == "smp:7:1:green:w:5:red"
    with pytest.raises(BadCallbackData, match="would not read back"):
        Sample(7, True, Colour.GREEN, "w", None, Colour.RED).pack()


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "smp",
        "smp:",
        "smp:7:1:green",  # a field short
        "smp:7:1:green:w:5:red:more",  # one too many
        "smp:7:1:green:w:",  # an empty optional field
        "smp:x:1:green:w",  # not a number
        "smp:-7:1:green:w",
        "smp:7:2:green:w",  # a bool is 1 or 0
        "smp:7:1:blue:w",  # not a colour
        "smp:7:1:GREEN:w",
        "smp:7:1:green:",  # an empty str
        "smp:7:1:green:w:5\n",  # $ would let a newline through
        "SMP:7:1:green:w",
        "sample:7:1:green:w",  # another prefix starting the same
        "smpx:7:1:green:w",
        "x smp:7:1:green:w",
        "smp:go",  # another codec's
    ],
)
def test_anything_else_is_refused(data: str | None) -> None:
    assert Sample.unpack(data) is None
    assert data is None or not Sample.pattern().match(data)


def test_a_step_reads_only_itself() -> None:
    assert Step.unpack("smp:go") == Step()
    assert Step.unpack("smp:go:") is None and Step.unpack("smp:gone") is None and Step.unpack("smp") is None


def test_a_button_that_could_not_work_is_never_built() -> None:
    with pytest.raises(BadCallbackData, match="over Telegram's 64 bytes"):
        Sample(1, True, Colour.RED, "x" * 60).pack()
    with pytest.raises(BadCallbackData, match="over Telegram's 64 bytes"):
        Sample(1, True, Colour.RED, "数" * 18).pack()  # 18 characters, but 54 bytes: 66 in all
    longest = Sample(1, True, Colour.RED, "x" * (MAX_BYTES - len("smp:1:1:red:")))
    assert len(longest.pack()) == MAX_BYTES
    for cannot_read_back in [
        Sample(1, True, Colour.RED, "a:b"),
        Sample(1, True, Colour.RED, ""),
        Sample(-1, True, Colour.RED, "x"),
        Sample("1", True, Colour.RED, "x"),  # type: ignore[arg-type]
        Sample(1, 2, Colour.RED, "x"),  # type: ignore[arg-type]
        Sample(1, True, Colour.RED, None),  # type: ignore[arg-type]
    ]:
        with pytest.raises(BadCallbackData, match="would not read back"):
            cannot_read_back.pack()


def test_a_codec_defined_wrong_is_refused_when_first_used() -> None:
    @dataclass(frozen=True)
    class OptionalFirst(CallbackData):
        prefix: ClassVar[str] = "bad"
        first: int | None
        second: int

    @dataclass(frozen=True)
    class FloatField(CallbackData):
        prefix: ClassVar[str] = "bad"
        weight: float  # a float field of any name is refused

    @dataclass(frozen=True)
    class ColonAtTheEnd(CallbackData):
        prefix: ClassVar[str] = "bad:"

    class NotADataclass(CallbackData):
        prefix: ClassVar[str] = "bad"

    wrong: list[tuple[type[CallbackData], str]] = [
        (OptionalFirst, "optional fields must come last"),
        (FloatField, "not an int, bool, StrEnum or str"),
        (ColonAtTheEnd, "lowercase words"),
        (NotADataclass, "must be a dataclass"),
    ]
    for codec, why in wrong:
        with pytest.raises(TypeError, match=why):
            codec.pattern()


def test_the_catch_all_of_a_feature_takes_only_its_own_word() -> None:
    under = any_button_under("askx")
    assert under.match("askx:n:two") and under.match("askx:")
    assert not under.match("ask:one:x") and not under.match("askxy:n") and not under.match("xaskx:")


def callback_data_written_by_hand(path: Path) -> list[str]:
    """callback_data=, an inline result's id= or a CallbackQueryHandler's pattern= given as a string."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
        for keyword in node.keywords:
            watched = keyword.arg == "callback_data" or (
                (name, keyword.arg) in {("CallbackQueryHandler", "pattern"), ("InlineQueryResultArticle", "id")}
            )
            if watched and isinstance(keyword.value, ast.Constant | ast.JoinedStr | ast.BinOp):
                found.append(f"{path.name}:{keyword.value.lineno} {keyword.arg}=")
    return found


def test_no_callback_data_is_written_by_hand() -> None:
    assert [
        line for path in sorted((ROOT / "handlers").glob("*.py")) for line in callback_data_written_by_hand(path)
    ] == []


def test_the_check_sees_a_hand_written_button(tmp_path: Path) -> None:
    module = tmp_path / "handmade.py"
    module.write_text(
        'InlineKeyboardButton("Pay", callback_data=f"pay:{token}")\n'
        'CallbackQueryHandler(pay, pattern="^pay:")\n'
        'InlineQueryResultArticle(id="card:" + token)\n'
        'InlineKeyboardButton("Pay", callback_data=MethodTap(provider, token).pack())\n'
    )
    assert len(callback_data_written_by_hand(module)) == 3
