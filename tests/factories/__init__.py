"""Helpers the tests share: inputs, set-ups and checks, by domain (no test imports another)."""
