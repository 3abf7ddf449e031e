"""Every ``>>>`` example in coverage/ runs and shows what the code does now."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import coverage

MODULES = sorted(info.name for info in pkgutil.iter_modules(coverage.__path__, prefix="coverage."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
