"""Registry fixtures for the OCI tests (a real docker-registry on loopback)."""

from tests.fixtures.registry import oci_registry, oci_registry_with_auth

__all__ = ["oci_registry", "oci_registry_with_auth"]
