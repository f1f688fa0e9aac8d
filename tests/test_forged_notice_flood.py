"""A flood of forged provider notices cannot fill the database: each is refused, counted, and kept only as a short
record (time, size, source, why), never its body or headers."""

from __future__ import annotations

import time

import aiohttp
from sqlalchemy import text
from sqlmodel import func, select

from payments.sandbox import SIGNATURE_HEADER
from services.metrics import REGISTRY
from storage.models import ProviderNotice, RejectedNotice
from tests.harness import RunningShop

FORGED = 300
BODY_BYTES = 60 * 1024


async def database_bytes(shop: RunningShop) -> int:
    """The database's size as the server counts it: pages in use (SQLite, its WAL included) or on disk."""
    async with shop.daifu.db.transaction() as session:
        if shop.daifu.db.engine.dialect.name == "postgresql":
            return int((await session.exec(text("SELECT pg_database_size(current_database())"))).one()[0])  # type: ignore[call-overload]
        pages = (await session.exec(text("PRAGMA page_count"))).one()[0]  # type: ignore[call-overload]
        page_size = (await session.exec(text("PRAGMA page_size"))).one()[0]  # type: ignore[call-overload]
        return int(pages) * int(page_size)


def counted() -> float:
    return REGISTRY.get_sample_value("daifu_rejected_notices_total", {"provider": "sandbox"}) or 0.0


async def test_three_hundred_forged_sixty_kib_notices_leave_short_counted_records(shop: RunningShop) -> None:
    before, counted_before = await database_bytes(shop), counted()
    padding = "x" * BODY_BYTES
    async with aiohttp.ClientSession() as client:
        for number in range(FORGED):
            body = f'{{"id":"evt_{number:04d}","pad":"{padding}"}}'.encode()
            headers = {SIGNATURE_HEADER: f"t={int(time.time())},v1={number:064x}", "Content-Type": "application/json"}
            async with client.post(f"{shop.web_url}/notify/sandbox", data=body, headers=headers) as answer:
                assert answer.status == 400
    grown = await database_bytes(shop) - before

    assert counted() - counted_before == FORGED
    async with shop.daifu.db.transaction() as session:
        assert (await session.exec(select(func.count()).select_from(ProviderNotice))).one() == 0
        records = (await session.exec(select(RejectedNotice))).all()
    assert len(records) == FORGED
    assert {(record.provider, record.size, record.reason) for record in records} == {
        ("sandbox", len(body), "signature does not match")
    }
    # 300 × 60 KiB is 18 MB; kept in full they grew the database by 20 MB.
    assert grown < 1024 * 1024, f"the database grew by {grown} bytes"
