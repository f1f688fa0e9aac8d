"""The composition root: settings, wiring of the PTB Application and the web server, the CLI."""
