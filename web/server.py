"""The aiohttp applications: every public web route daifu serves on one, the operations endpoints on the other."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from aiohttp import web

from payments.sandbox import SandboxGateway
from services.daifu import Daifu
from web import security
from web.client_address import IPNetwork, trust_proxies
from web.health import OperationsEndpoints, public_routes
from web.landing import LandingPages
from web.miniapp_api import MiniAppApi
from web.miniapp_page import MiniAppPage
from web.notify import NotifyEndpoints
from web.pages import stylesheet
from web.rate_limit import RATE_LIMITER, RateLimiter, WebLimits
from web.receipt_page import ReceiptPages
from web.request_page import RequestPages
from web.sandbox_checkout import SandboxCheckoutPages
from web.share_cards import ShareCards
from web.shop_api import PREFIX as API_PREFIX
from web.shop_api import ShopApi
from web.slow_clients import body_deadline
from web.web_payer import Browsers


async def home(_request: web.Request) -> web.Response:
    return web.Response(text="daifu is running.\n")


def build_web_app(
    daifu: Daifu,
    bot_username: Callable[[], str],
    limits: WebLimits | None = None,
    *,
    trusted_proxies: tuple[IPNetwork, ...] = (),
    body_timeout: float = 30.0,
    miniapp: MiniAppApi | None = None,
    miniapp_local_sdk: bool = False,
) -> web.Application:
    app = web.Application(client_max_size=256 * 1024)
    trust_proxies(app, trusted_proxies)
    if limits is not None:
        # First: a flood is refused before any other work is done for it.
        limiter = RateLimiter(replace(limits, keyed_prefixes=(f"{API_PREFIX}/orders",)))
        app[RATE_LIMITER] = limiter
        app.middlewares.append(limiter.middleware)
    app.middlewares.append(body_deadline(body_timeout))
    security.install(app)
    app.router.add_get("/", home)
    app.router.add_get("/static/daifu.css", stylesheet)
    app.add_routes(public_routes())
    browsers = Browsers(daifu)  # the order's page and a request's page know a browser alike
    app.add_routes(LandingPages(daifu, bot_username, browsers).routes())
    app.add_routes(NotifyEndpoints(daifu).routes())
    app.add_routes(RequestPages(daifu, browsers).routes())
    app.add_routes(ReceiptPages(daifu).routes())
    app.add_routes(ShareCards(daifu).routes())
    app.add_routes(ShopApi(daifu, bot_username).routes())
    if miniapp is not None:  # it needs the bot's token, which only the running bot has
        app.add_routes(miniapp.routes())
    app.add_routes(MiniAppPage(local_sdk=miniapp_local_sdk).routes())
    for gateway in daifu.providers.values():
        if isinstance(gateway, SandboxGateway):  # the sandbox's checkout page is served here, on daifu's own site
            app.add_routes(SandboxCheckoutPages(daifu, gateway).routes())
    return app


def build_ops_app(daifu: Daifu, bot_api_reachable: Callable[[], Awaitable[object]]) -> web.Application:
    """The operations listener's application: /healthz, /readyz and /metrics, for the machines that watch daifu.

    Unthrottled and without the pages' headers: it is reached only by Prometheus and the orchestrator."""
    app = web.Application(client_max_size=1024)
    app.add_routes(OperationsEndpoints(daifu, bot_api_reachable).routes())
    return app
