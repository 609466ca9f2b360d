"""Interop tests: fedgroup against independent ActivityPub software run as child processes."""
