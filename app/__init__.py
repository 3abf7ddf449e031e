"""The lomsong service: the library composed into an API, a CLI and the demo.

Its layers import one way, ``cli → main → api → services → store → core``;
the analysis itself is in :mod:`coverage` and the file formats in :mod:`geodata`.
"""
