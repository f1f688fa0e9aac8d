"""The facade handlers and web routes call: one object holding every service, built once at start."""

from __future__ import annotations

from collections.abc import Mapping

from payments.base import PaymentProvider
from services.api_keys import ApiKeys
from services.asking import Asking
from services.button_states import ButtonStates
from services.callback_backlog import CallbackBacklog
from services.checkout import Checkouts
from services.config import ShopRules
from services.crediting import Crediting
from services.flows import Flows
from services.friend_reminders import FriendReminders
from services.live_messages import LiveMessages
from services.operations_probes import OperationsProbes
from services.order_closing import OrderClosing
from services.order_export import OrderExport
from services.order_listing import OrderListing
from services.order_lookup import OrderLookup
from services.orders import Orders
from services.orphan_charges import OrphanCharges
from services.outside_refunds import OutsideRefunds
from services.pay_support import PaySupport
from services.payment_intake import PaymentIntake
from services.person_orders import PersonOrders
from services.provider_health import ProviderHealthLog
from services.provider_notices import NoticeDesk
from services.receipts import Receipts
from services.reconcile import Reconciler
from services.refund_events import RefundEvents
from services.refund_outcomes import RefundOutcomes
from services.refund_resumption import RefundResumption
from services.refunds import Refunds
from services.request_cards import RequestCards
from services.request_checkout import RequestCheckouts
from services.request_closing import RequestClosing
from services.request_holds import RequestHolds
from services.request_reminders import RequestReminders
from services.request_views import RequestViews
from services.shop_order_closing import ShopOrderClosing
from services.shop_order_intake import ShopOrderIntake
from services.shop_order_views import ShopOrderViews
from services.shop_refund_keys import RefundKeys
from services.stars_ledger import StarsLedger
from services.stats_report import StatsReport
from services.telling import Tellings
from services.users import Users
from storage.database import Database


class Daifu:
    def __init__(self, db: Database, rules: ShopRules, providers: Mapping[str, PaymentProvider]) -> None:
        self.db = db
        self.rules = rules
        self.providers = providers
        self.users = Users(db)
        self.flows = Flows(db)
        self.buttons = ButtonStates(db)
        # What people must be told, recorded by the services with each change; the teller sends it.
        self.tellings = Tellings(db, rules.admin_ids)
        self.orders = Orders(db, rules, self.tellings)
        # A web payer's receipt, where every provider's page sends its payer back.
        self.receipts = Receipts(db, rules, self.users)
        self.checkouts = Checkouts(db, rules, self.orders, providers, self.receipts)
        # Messages offering to pay, share or cancel, tidied once what they offer is finished.
        self.live_messages = LiveMessages(db, self.tellings)
        # The books of charges and refunds: each event credited, refunded, resumed or kept as an orphan.
        self.crediting = Crediting(db, self.tellings)
        self.refund_outcomes = RefundOutcomes(db, self.tellings)
        self.refunds = Refunds(db, providers, self.refund_outcomes)
        self.refund_events = RefundEvents(db, self.refund_outcomes, self.tellings)
        orphans = OrphanCharges(db, providers, self.tellings)
        self.payment_intake = PaymentIntake(self.crediting, self.refunds, self.refund_events, orphans)
        self.refund_resumption = RefundResumption(db, providers, self.refund_outcomes, orphans)
        # Pay for me, one service for each thing a reader looks for.
        self.request_views = RequestViews(db, rules, self.users)
        self.asking = Asking(db, rules, self.users)
        self.request_holds = RequestHolds(db, rules, self.users, self.request_views, self.tellings)
        self.request_checkouts = RequestCheckouts(db, rules, self.checkouts, self.request_holds)
        self.request_closing = RequestClosing(db, self.request_views, self.refunds, self.tellings)
        self.request_reminders = RequestReminders(db, rules, self.request_views)
        self.request_cards = RequestCards(db)
        # /my: a person's orders, and their friends reminded of a request they opened.
        self.person_orders = PersonOrders(db, self.users)
        self.friend_reminders = FriendReminders(db)
        # Help with a payment: a person's recent charges, and the admins told they asked.
        self.pay_support = PaySupport(db, self.tellings)
        self.notices = NoticeDesk(db, providers, self.payment_intake)
        self.health = ProviderHealthLog(db)
        self.reconciler = Reconciler(db, providers, self.payment_intake, self.health, after=rules.reconcile_after)
        self.closing = OrderClosing(db, self.orders, self.request_closing, providers, self.tellings)
        self.api_keys = ApiKeys(db)
        # What the admin commands read.
        self.stats_report = StatsReport(db)
        self.order_lookup = OrderLookup(db)
        self.order_listing = OrderListing(db)
        self.order_export = OrderExport(db)
        self.callback_backlog = CallbackBacklog(db)
        self.probes = OperationsProbes(db)
        # What the shop API calls.
        self.shop_order_views = ShopOrderViews(db)
        self.shop_order_intake = ShopOrderIntake(db, rules, self.checkouts, self.shop_order_views)
        self.shop_order_closing = ShopOrderClosing(self.shop_order_views, self.refunds, self.closing)
        self.refund_keys = RefundKeys(db)
        # Stars as Telegram's own ledger has them: refunds made outside daifu, and the ledger read against the books.
        self.outside_refunds = OutsideRefunds(db, self.refund_outcomes, self.tellings)
        self.stars_ledger = StarsLedger(db, providers, self.payment_intake, self.outside_refunds, self.health)
