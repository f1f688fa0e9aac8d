"""The offline playground: the real daifu against an embedded Telegram emulator, with a chat page.

``python -m playground`` runs it (see run_playground); the page is ``/playground`` on daifu's own web
server. Ada (the shop's admin), Alice, Bob and Carol each have a chat with the bot, a chat with every
other person, and the group "Friends". Modules:

- world: the people and chats, as the emulator holds them;
- views: messages as the page draws them (what each button does, invoice amounts, the link a QR code holds);
- actions: a person's taps, links, scans, inline shares and payments, as emulator person actions;
- events: server-sent events fed by the emulator, so the page updates as the bot writes and edits;
- routes: the page, its static files and the JSON API, on daifu's aiohttp app;
- words: the page's own words, translated through services.i18n;
- run: Playground (start/stop) and run_playground.
"""

from .run import DEFAULT_DATABASE_URL, NotAPlaygroundDatabase, Playground, run_playground

__all__ = ["DEFAULT_DATABASE_URL", "NotAPlaygroundDatabase", "Playground", "run_playground"]
