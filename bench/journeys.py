"""What daifu is driven through in a run: the checkout (--journey checkout) or the pay-for-me journey."""

from __future__ import annotations

from bench.checkout_scenario import CheckoutScenario
from bench.options import Options
from bench.payforme_scenario import PayForMeScenario
from bench.replies import BotReplies
from emulator import BotApiEmulator

DaifuScenario = CheckoutScenario | PayForMeScenario


def daifu_scenario(emu: BotApiEmulator, replies: BotReplies, options: Options) -> DaifuScenario:
    if options.journey == "payforme":
        return PayForMeScenario(emu, replies, options)
    return CheckoutScenario(emu, replies, options)
