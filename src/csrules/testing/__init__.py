"""Test helpers for policy authors: hypothesis strategies (needs the `testing` extra)."""
