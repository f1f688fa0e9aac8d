"""What every web answer says to the browser about itself, and the refusal of forms posted from other sites.

The headers are set in `on_response_prepare`, so aiohttp's own answers (404, 405, 413, 500) get them too.
Tokens travel in the pages' URLs (/o/<token>, /r/<token>, the sandbox checkout), hence no Referer to other
sites (same-origin rather than no-referrer: with no-referrer browsers send `Origin: null` even on a page's
own form posts, and the cross-site check reads the Origin).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web, web_response

SERVER_NAME = "daifu"  # never the versions of Python and aiohttp, which only help someone pick an exploit
CSP_HEADER = "Content-Security-Policy"


def content_security_policy(*, form_targets: Iterable[str] = ()) -> str:
    """The pages' policy: no script at all, styles and images only from daifu, never inside a frame.

    form_targets are further origins a form may post to or be redirected to (browsers apply form-action to
    the redirect after a post, and the request page's post redirects to a provider's checkout page).
    """
    return "; ".join(
        [
            "default-src 'none'",
            "style-src 'self'",
            "img-src 'self' data:",  # data: for a QR code drawn into the page
            "form-action " + " ".join(["'self'", *form_targets]),
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


PAGE_POLICY = content_security_policy()
# The request page's form answers with a redirect to the provider's checkout page (Stripe's, say), whose
# origin the page cannot know before the payer picks a method; any HTTPS page is the narrowest that works.
REQUEST_PAGE_POLICY = content_security_policy(form_targets=["https:"])
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}


async def harden_response(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = SERVER_NAME
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    # A page that may be framed (the Mini App, by Telegram's web clients) says where in its own frame-ancestors;
    # X-Frame-Options cannot name an allowed framer, so it must not be there to contradict it.
    if "frame-ancestors 'none'" not in response.headers.get(CSP_HEADER, "frame-ancestors 'none'"):
        del response.headers["X-Frame-Options"]
    # A page that needs another policy (the request page, the playground) sets its own before this runs.
    response.headers.setdefault(CSP_HEADER, PAGE_POLICY)


def install(app: web.Application) -> None:
    app.on_response_prepare.append(harden_response)
    # aiohttp answers a request it cannot parse (400) before any route or signal, with this module-wide
    # default; this is the only way to keep the version out of those answers too.
    web_response.SERVER_SOFTWARE = SERVER_NAME


# -- forms ------------------------------------------------------------------------------------------------


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site(request: web.Request, public_base_url: str) -> bool:
    """A browser says this POST comes from a page of another site (or from a frame, a sandbox, a redirect).

    Browsers send Sec-Fetch-Site (since 2020-2023) and Origin (older ones) on form POSTs; a client that sends
    neither is no browser, so it carries no victim's cookies and is not what this guards against.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:  # set by the browser alone: no page can forge it
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    # Behind a proxy the address the browser used is the public one; directly, it is the Host it asked for.
    own = {origin_of(public_base_url), f"{request.scheme}://{request.host}".lower()}
    return origin.lower() not in own
