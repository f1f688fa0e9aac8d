"""The Mini App in the playground's phone pane: the address Telegram would open it at, for one person.

Telegram opens a Mini App at its URL with the launch parameters in the fragment: the signed init data
(tgWebAppData), the theme (tgWebAppThemeParams), the client's version and platform. The pane does the same, with init
data signed by the emulator's bot token, so daifu checks it as it checks Telegram's. The page around the frame (the
playground's script) then plays the Telegram app's part of the postMessage protocol.
"""

from __future__ import annotations

import json
import time
from typing import Literal
from urllib.parse import quote, urlsplit

from emulator import BotApiEmulator, User
from emulator.mini_apps import init_data

Theme = Literal["light", "dark"]
APP_PATH = "/app"
# The Bot API version the pane's "Telegram app" speaks: 8.0 has shareMessage (prepared messages).
VERSION = "8.0"
# Telegram Web's own colours for its light and dark themes, as it hands them to Mini Apps.
THEMES: dict[Theme, dict[str, str]] = {
    "light": {
        "bg_color": "#ffffff",
        "text_color": "#000000",
        "hint_color": "#707579",
        "link_color": "#3390ec",
        "button_color": "#3390ec",
        "button_text_color": "#ffffff",
        "secondary_bg_color": "#f4f4f5",
        "header_bg_color": "#ffffff",
        "bottom_bar_bg_color": "#ffffff",
        "accent_text_color": "#3390ec",
        "section_bg_color": "#ffffff",
        "section_header_text_color": "#707579",
        "subtitle_text_color": "#707579",
        "destructive_text_color": "#e53935",
    },
    "dark": {
        "bg_color": "#212121",
        "text_color": "#ffffff",
        "hint_color": "#aaaaaa",
        "link_color": "#8774e1",
        "button_color": "#8774e1",
        "button_text_color": "#ffffff",
        "secondary_bg_color": "#0f0f0f",
        "header_bg_color": "#212121",
        "bottom_bar_bg_color": "#212121",
        "accent_text_color": "#8774e1",
        "section_bg_color": "#212121",
        "section_header_text_color": "#aaaaaa",
        "subtitle_text_color": "#aaaaaa",
        "destructive_text_color": "#ff595a",
    },
}


def launch_url(
    emu: BotApiEmulator, person: User, *, start_param: str | None = None, theme: Theme = "light", path: str = APP_PATH
) -> str:
    """Where the pane's frame opens the app for this person (a path on daifu's own site, fragment included)."""
    signed = init_data(emu.token, person, auth_date=int(time.time()), start_param=start_param)
    launch = {
        "tgWebAppData": signed,
        "tgWebAppVersion": VERSION,
        "tgWebAppPlatform": "weba",
        "tgWebAppBotInline": "1",
        "tgWebAppThemeParams": json.dumps(THEMES[theme], separators=(",", ":")),
    }
    return path + "#" + "&".join(f"{key}={quote(value, safe='')}" for key, value in launch.items())


def own_app_path(url: str, own_origin: str) -> str | None:
    """The path (and query) of a web_app button's URL when it is daifu's own app on this site, else None."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}".lower() != own_origin.lower() or not parts.path.startswith(APP_PATH):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")
