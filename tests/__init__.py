"""The test suite, a package so that its helpers (``tests.serve_helpers``) are
imported by their full name, the same under pytest's ``prepend`` and
``importlib`` import modes; shared fixtures are in ``conftest.py``."""
