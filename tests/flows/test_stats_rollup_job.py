"""The running bot rolls past hours up for /stats, working through a backlog in batches; /stats reads them."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, func, select, update

from handlers.stats_job import CATCH_UP, roll_stats
from services.stats_rollup import DAY, HORIZON, SETTLE, SLICE, floor_to
from storage.models import Order, Payment, RolledPeriod, utcnow
from tests.flows.test_admin_reports import order_of, pay_on_sandbox, say
from tests.harness import RunningShop


async def back_date(shop: RunningShop, token: str, hours: int) -> None:
    """Make the order, and its payment, look made and paid this many hours ago."""
    order = await order_of(shop, token)
    assert order.paid_at is not None
    shift = timedelta(hours=hours)
    async with shop.daifu.db.transaction() as session:
        await session.exec(
            update(Order)
            .where(col(Order.id) == order.id)
            .values(created_at=order.paid_at - shift - timedelta(minutes=4), paid_at=order.paid_at - shift)
        )
        for payment in (await session.exec(select(Payment).where(Payment.order_id == order.id))).all():
            assert payment.settled_at is not None
            await session.exec(
                update(Payment)
                .where(col(Payment.id) == payment.id)
                .values(created_at=payment.created_at - shift, settled_at=payment.settled_at - shift)
            )


async def rolled_slices(shop: RunningShop) -> int:
    async with shop.daifu.db.transaction() as session:
        return int((await session.exec(select(func.count()).where(RolledPeriod.minutes == 10))).one())


async def test_the_bot_rolls_a_backlog_up_in_batches_and_stats_read_it(shop: RunningShop) -> None:
    for hours, command in ((26, "/newlink 12.50 USD Coffee beans"), (3, "/newlink 5 USD Tea")):
        token = await shop.new_link(command)
        await pay_on_sandbox(shop, shop.alice, token)
        await back_date(shop, token, hours)
    before = (await say(shop, shop.admin, "/stats"))["text"]
    assert "Orders paid (whenever they were created): 2" in before and "Taken for the orders paid: $17.50" in before
    runtime = shop.runtime
    assert runtime is not None and runtime.application.job_queue is not None
    jobs = runtime.application.job_queue
    (job,) = [job for job in jobs.jobs() if job.callback is roll_stats]

    await job.run(runtime.application)

    assert await rolled_slices(shop) >= 144  # the newest day's first
    (catch_up,) = jobs.get_jobs_by_name(CATCH_UP)  # the rest a moment later, not all at once
    catch_up.schedule_removal()  # run it now instead
    await catch_up.run(runtime.application)
    now = utcnow()
    due = (floor_to(now - SETTLE, SLICE) - floor_to(now - HORIZON, DAY)) // SLICE
    # Every complete slice since the day 31 days ago (one fewer if a slice became due since the job ran).
    assert await rolled_slices(shop) in (due - 1, due)
    assert not jobs.get_jobs_by_name(CATCH_UP)
    after = (await say(shop, shop.admin, "/stats"))["text"]
    assert after.splitlines()[2:] == before.splitlines()[2:]  # all but the title and "Since ..."
    assert "Median time from link to payment, of the orders paid: 4 minutes" in after
