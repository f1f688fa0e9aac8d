"""The commands a person can send, with what each does and whether only the shop's admins may: one list that /help
and the command menus Telegram shows (handlers.introduction) both read, so they never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from services.i18n import N_, Gettext


@dataclass(frozen=True, slots=True)
class Command:
    name: str  # without the slash: 1-32 characters of a-z, 0-9 and _ (Telegram's rule for a menu)
    description: str  # English, translated where it is shown; 1-256 characters in a menu
    admin_only: bool = False


COMMANDS = (
    Command("my", N_("your orders and payments")),
    Command("requests", N_("your pay-for-me requests")),
    Command("paysupport", N_("help with a payment you made")),
    Command("terms", N_("the shop's terms")),
    Command("language", N_("choose English or Chinese")),
    Command("help", N_("what this bot does, and its commands")),
    Command("whoami", N_("your Telegram user id (for ADMIN_IDS)")),
    Command("newlink", N_("create a checkout link (e.g. /newlink 12.50 USD Coffee beans)"), admin_only=True),
    Command("orders", N_("every order, newest first"), admin_only=True),
    Command("order", N_("one order's whole story"), admin_only=True),
    Command("stats", N_("the shop's figures (today, 7d, 30d)"), admin_only=True),
    Command("refund", N_("give money back for an order"), admin_only=True),
    Command("cancel", N_("close an unpaid order"), admin_only=True),
    Command("export", N_("orders and payments as CSV"), admin_only=True),
    Command("providers", N_("payment providers and what is parked"), admin_only=True),
    Command("apikey", N_("keys to the shop API"), admin_only=True),
)


def commands_for(*, admin: bool) -> tuple[Command, ...]:
    """What this person may send: everyone's commands, and the admins' too for an admin."""
    return tuple(command for command in COMMANDS if admin or not command.admin_only)


ADMIN_COMMANDS = tuple(command for command in COMMANDS if command.admin_only)


def command_lines(_: Gettext, commands: tuple[Command, ...]) -> list[str]:
    """One line per command, "/name - what it does", in the person's language."""
    return [f"/{command.name} - {_(command.description)}" for command in commands]
