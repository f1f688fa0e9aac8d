"""A local Telegram Bot API emulator: the real bot talks to it over HTTP, tests act as people.

It depends only on aiohttp and the standard library. Point python-telegram-bot at it with
``ApplicationBuilder().token(emu.token).base_url(emu.base_url).base_file_url(emu.base_file_url)``.

Lifecycle::

    emu = BotApiEmulator(token="123456:TEST", bot_username="daifu_bot", bot_name="daifu")
    await emu.start(host="127.0.0.1", port=0)   # or: async with BotApiEmulator() as emu:
    emu.base_url, emu.base_file_url             # "http://127.0.0.1:PORT/bot", ".../file/bot"
    emu.make_app()                              # the same routes as an aiohttp app, to mount elsewhere
    await emu.stop()

People and chats (private chat id == user id, so a User also names their chat with the bot;
groups have negative ids)::

    alice = emu.add_user("Alice", language_code="en", username="alice")   # ids 1001, 1002, ...
    group = emu.add_group("Friends", members=[alice, bob], supergroup=False, privacy_mode=False)
    dm = emu.add_direct_chat(alice, bob)        # a chat the bot is not in (for inline mode)
    emu.block_bot(alice)                        # the bot now gets 403 for alice

What people do (each becomes the updates Telegram would send)::

    await emu.send_text(alice, "/start abc", chat=None, reply_to=None)   # -> the person's Message
    await emu.send_photo(alice, png_bytes, caption="receipt")
    await emu.edit_text(alice, msg, "new text")                          # edited_message
    await emu.open_link(alice, "https://t.me/daifu_bot?start=abc")       # "/start abc"; t.me/$slug -> Invoice
    await emu.click(alice, msg, "Pay", callback_data=None, timeout=5)    # answerCallbackQuery as a dict,
                                                                          # or a url/copy text, or pays
    await emu.pre_checkout(alice, invoice, total_amount=..., payload=...)  # {"ok", "error_message"}
    await emu.pay_invoice(alice, invoice, telegram_payment_charge_id=None)  # successful_payment Message
    await emu.repeat_payment(paid_message)                               # the same payment delivered again
    emu.invoice_from_link("https://t.me/$slug")                          # Invoice, accepted by pay_invoice
    await emu.inline_query(alice, "text", chat_type="group")             # the results list
    await emu.choose_inline_result(alice, results[0], chat=group)        # the posted "via_bot" Message

``invoice`` is an invoice Message dict, an Invoice, or an invoice link. Waiting actions raise
NoAnswer (a TimeoutError) when the bot does not answer in time; pay_invoice raises PaymentRefused.

Reading back::

    emu.chat_messages(chat)          # current state of every message, both sides, in order
    emu.bot_messages(chat); emu.last_bot_message(chat)
    await emu.next_bot_message(chat, timeout=5)   # next bot message after the latest person action there
    await emu.wait_for(predicate, timeout=5)      # re-checked on every change and every bot call
    emu.calls; emu.calls_to("sendMessage"); emu.errors   # (method, params[, error]) in order
    emu.source_text(message)         # text as sent, e.g. with HTML tags (messages hold plain text)
    emu.file_bytes(file_id); emu.star_refunds; emu.pending_updates; emu.chat(chat_id)
    emu.subscribe(callback)          # callback(event) on message/edit/delete/chat_action/callback_answer
    emu.set_flood_limit(chat, max_messages, per_seconds=1.0)   # 429 "retry after N"; None turns it off

The Stars ledger (getStarTransactions answers from it, oldest first; emulator/stars_ledger.py)::

    emu.star_ledger                                  # StarTransaction dicts: payments and refunds made
    emu.stars_paid_unseen(alice, 50, payload="x")    # a Stars payment whose update the bot never got
    emu.refund_stars_elsewhere(charge_id)            # refunded outside the bot: refunded_payment message
    emu.drop_star_refund(charge_id)                  # Telegram lost a refund: gone, refundable again
    emu.add_star_transaction({"id": ..., "amount": 5, "date": ..., "receiver": {...}})   # any, as given

Faults (emulator/faults.py)::

    emu.faults.fail("sendMessage", fault=server_error(502), times=1)        # or probability=0.05 (seeded)
    emu.faults.fail("editMessageText", fault=timeout(6))                    # also bad_json(), telegram_error(...)
    emu.deliver_raw(message_without_date(alice))                            # a malformed update in the stream

Webhooks: once the bot calls setWebhook, ``emu.webhooks`` POSTs each update to it (with the secret token
header) until the bot answers 2xx; ``emu.world.allow_http_webhooks = True`` lets a test use plain HTTP, and
``await emu.webhooks.post(update)`` sends an update again, as Telegram does after a time-out.
Not emulated: shipping queries, media other than
photos and documents, downloading URLs the bot passes as files.
"""

from .emulator import BotApiEmulator
from .errors import ApiError, NoAnswer, PaymentRefused
from .state import Chat, Invoice, User

__all__ = ["ApiError", "BotApiEmulator", "Chat", "Invoice", "NoAnswer", "PaymentRefused", "User"]
