"""The ground floor of the service: settings, the error table and pure security.

Nothing here opens the store or builds a router; every other layer of
``app`` may import from here.
"""
