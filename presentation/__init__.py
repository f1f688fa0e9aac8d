"""How daifu words things for people: the texts the chat and the web pages share (no PTB, no aiohttp)."""
