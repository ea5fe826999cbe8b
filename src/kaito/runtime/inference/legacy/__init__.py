"""Upstream's legacy ``POST /chat`` API (§4.3), kept so 2024-era clients keep working."""
