"""Storage for daifu: SQLModel tables, the async engine and sessions, query functions, migrations."""
