"""Every ``>>>`` example in app/, coverage/ and geodata/ runs and shows what the code does now.

One test per module that has examples, found by walking the packages in
:data:`PACKAGES`: a new module's examples are collected without listing it.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

PACKAGES = ("app", "coverage", "geodata")
# The flags coverage's doctests use: ``...`` in expected output, and line breaks
# in a long expected value that do not matter.
OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules(package: str) -> list[str]:
    """Return ``package`` and every module and subpackage under it, by name."""
    root = importlib.import_module(package)
    found = pkgutil.walk_packages(root.__path__, prefix=f"{package}.")
    return [package, *sorted(info.name for info in found)]


def _examples(module: ModuleType) -> list[doctest.DocTest]:
    """Return the module's docstring examples (those of objects defined in it), in order.

    A docstring whose every example is marked ``+SKIP`` (``app.cli``'s ``--help``,
    which would print pages) holds nothing to run and is left out.
    """
    tests = doctest.DocTestFinder().find(module, module.__name__)
    runnable = (t for t in tests if any(not e.options.get(doctest.SKIP) for e in t.examples))
    return sorted(runnable, key=lambda t: (t.lineno or 0, t.name))


MODULES = [
    name
    for package in PACKAGES
    for name in _modules(package)
    if _examples(importlib.import_module(name))
]


def test_examples_are_found() -> None:
    # The walk reaches nested packages (geodata.formats, app.store), not just the top.
    assert {"geodata.buildings", "geodata.formats", "app.core.config"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    report: list[str] = []
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    for test in _examples(module):
        runner.run(test, out=report.append)
    assert runner.tries > 0
    assert runner.failures == 0, (
        f"{runner.failures} of {runner.tries} examples failed in {name}:\n" + "".join(report)
    )
