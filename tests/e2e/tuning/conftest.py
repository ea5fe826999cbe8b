"""Fixtures for the tuning end-to-end tests: a real registry for the ship-the-adapter test."""

from tests.fixtures.registry import oci_registry

__all__ = ["oci_registry"]
