"""Benchmark: daifu against the Bot API emulator, side by side with a bare PTB echo bot.

``python -m bench`` starts the emulator in this process, runs each bot as a subprocess polling it
over loopback, and reports checkout flows per second, pre-checkout answer latency, bot CPU per
update and reply latency at a fixed offered rate, for daifu and for the echo bot in the same run.
The ratio between the two is the figure: it is far less machine-dependent than either number.

Other kinds of run (each prints the command that made it and writes its own bench/results/*.json):

- ``--mode webhook``: the same comparison, both bots receiving updates by webhook (daifu with
  ``--webhook``); ``--webhook-connections N`` POSTs up to N updates at once (bench.webhooks).
- ``--workers 2``: daifu with one worker, then two on one database behind a load balancer
  (bench.balancer), webhook mode; updates/s and checkout flows/s of each, and their ratio.
- ``--stats-orders [N]``: a fresh database filled with N orders (a million by default) and their
  payments, requests and refunds, then the /stats query timed on it for 7 and 30 days.
"""
