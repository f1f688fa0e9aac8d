"""Benchmark: daifu against the Bot API emulator, side by side with a bare PTB echo bot.

``python -m bench`` starts the emulator in this process, runs each bot as a subprocess polling it
over loopback, and reports updates per second, bot CPU per update, pre-checkout answer latency and
reply latency at half of each bot's own maximum rate (or a fixed ``--rate``), for daifu and for the
echo bot in the same run. The ratio between the two is the figure: it is far less machine-dependent
than either number. Every update is counted as the emulator queues it (bench.counting).

What daifu is driven through (``--journey``): ``checkout`` (bench.checkout_scenario: the shopper pays
from the deep link, 4 updates; the default when polling) or ``payforme`` (bench.payforme_scenario: the
shopper asks a friend and shares the request card, the friend pays, every notice is awaited; 9 updates;
the default with ``--mode webhook`` and ``--workers``).

Other kinds of run (each prints the command that made it and writes its own bench/results/*.json):

- ``--mode webhook``: the same comparison, both bots receiving updates by webhook (daifu with
  ``--webhook``); ``--webhook-connections N`` POSTs up to N updates at once (bench.webhooks).
- ``--workers 2``: daifu with one worker, then two on one database behind a load balancer
  (bench.balancer), webhook mode; updates/s and journeys/s of each, and their ratio.
- ``--stats-orders [N]``: a fresh database filled with N orders (a million by default) and their
  payments, requests and refunds, then the /stats query timed on it for 7 and 30 days.
"""
