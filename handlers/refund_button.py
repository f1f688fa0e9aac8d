"""What the Refund button under an admin's payment note carries: sent by handlers.notices, read by handlers.refunds.

A module of its own because handlers.refunds imports handlers.notices: the codec beside the handler would make the
two import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from handlers.callback_data import CallbackData


class RefundStep(StrEnum):
    ASK = "ask"  # the Refund button: ask to confirm
    YES = "yes"
    NO = "no"


@dataclass(frozen=True, slots=True)
class RefundTap(CallbackData):
    """refund:<ask|yes|no>:<payment id>."""

    prefix: ClassVar[str] = "refund"
    step: RefundStep
    payment_id: int
