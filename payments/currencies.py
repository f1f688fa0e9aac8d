"""Which currency codes are money a payer can pay in: ISO 4217 codes that are legal tender somewhere, and Stars.

ISO 4217 also lists codes that are not money anyone pays with: bond-market units and funds (BOV, CLF, COU,
MXV, UYI, UYW, CHE, CHW, USN), precious metals (XAU, XAG, XPT, XPD), the IMF's SDR (XDR) and other units of
account (XBA-XBD, XSU, XUA), the testing code XTS and XXX, "no currency". Babel's CLDR data marks every
one of those `tender="false"` for its territory or gives it none, and it knows when a currency stopped being
used; so a code is money when CLDR has it as legal tender in some territory today. Providers offer a method
only for such codes, and orders refuse the others.
"""

from __future__ import annotations

import functools
from datetime import date

from babel.core import get_global
from babel.numbers import get_territory_currencies

STARS = "XTR"  # Telegram Stars: not ISO 4217, and money all the same for Telegram's own payments


@functools.cache
def legal_tender() -> frozenset[str]:
    """Every ISO 4217 code CLDR has as legal tender in some territory today (read once per process)."""
    today = date.today()
    return frozenset(
        code
        for territory in get_global("territory_currencies")
        for code in get_territory_currencies(territory, today, tender=True, non_tender=False)
    )


def is_money(code: str) -> bool:
    """Whether a payer can pay in this currency: Stars, or an ISO 4217 code that is legal tender today."""
    return code == STARS or code in legal_tender()
