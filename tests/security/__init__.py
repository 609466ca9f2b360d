"""Regression tests for the inbound hardening (issue 9, docs/security.md): one module per class
of attack, each trying several forms of it against a running server on its own SQLite file."""
