"""Karst scenarios: a second, independent generator of test worlds.

See README.md. This package must stay independent of ``geodata/demo`` and of
``coverage``: it never imports them and owes them no formula.
"""

from tests.scenarios.karst import ScenarioFiles, write_scenario

__all__ = ["ScenarioFiles", "write_scenario"]
