"""Persistence for daifu: SQLModel tables, the async engine, repositories, migrations, PTB persistence."""
