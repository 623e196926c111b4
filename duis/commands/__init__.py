"""One module per ``duis`` sub-command; each exposes ``register(subparsers)``."""
