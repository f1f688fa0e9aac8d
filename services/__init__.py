"""The domain of daifu: orders, payments and their state machines. Knows nothing of PTB or HTTP."""
