"""Geodata: the file formats, sources and maps around the analysis, and the demo region.

Readers of readings, sites and villages (:mod:`geodata.formats`, :mod:`geodata.sites`,
:mod:`geodata.villages`), map pages and reports (:mod:`geodata.maps`,
:mod:`geodata.report`), exports, and the simulated demo region (:mod:`geodata.demo`).
No web code is imported here.
"""
