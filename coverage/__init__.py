"""Coverage analysis: readings, sites and terrain -> village verdicts and dead zones.

The entry point is :func:`coverage.pipeline.analyze`; its module docstring
maps each step of DESIGN.md to the module that does it. The model's
thresholds are in :mod:`coverage.thresholds`.
"""
