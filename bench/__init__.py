"""Benchmark: daifu against the Bot API emulator, side by side with a bare PTB echo bot.

``python -m bench`` starts the emulator in this process, runs each bot as a subprocess polling it
over loopback, and reports checkout flows per second, pre-checkout answer latency, bot CPU per
update and reply latency at a fixed offered rate, for daifu and for the echo bot in the same run.
The ratio between the two is the figure: it is far less machine-dependent than either number.
"""
