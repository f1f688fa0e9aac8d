"""Payment adapters: one protocol, one module per provider, a registry chosen by settings."""
