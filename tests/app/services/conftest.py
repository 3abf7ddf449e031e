"""The services' tests on both backends where their store needs no readings.

``loaded_store`` (and ``backend_store``) are the store tests' own: the tiny
region in a store of its own on ``database``'s backend (SQLite, then
PostgreSQL), rather than the API suite's client store.
"""

from tests.app.store.conftest import backend_store, loaded_store

__all__ = ["backend_store", "loaded_store"]
