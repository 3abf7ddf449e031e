"""The service's full re-analysis runs on LOMSONG_CLUSTER; a refresh of some communes does not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.config import get_settings
from app.services import analysis


class _Store:
    def last_batch_id(self) -> int:
        return 0


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[object, object]]]:
    calls: list[tuple[object, object]] = []

    def analyse(store: object, communes: object, *, rasters: object = None, cluster: object = None):
        calls.append((communes, cluster))
        return None  # no villages: nothing published

    monkeypatch.setattr(analysis, "analyse", analyse)
    get_settings.cache_clear()
    yield calls
    get_settings.cache_clear()


def test_a_full_reanalysis_runs_on_the_cluster(
    seen: list[tuple[object, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOMSONG_DEMO", "1")
    monkeypatch.setenv("LOMSONG_CLUSTER", "tcp://10.0.0.5:8786")
    assert analysis.analyze_communes(_Store(), None) == []  # type: ignore[arg-type]
    assert analysis.analyze_communes(_Store(), ["thuong-nong"]) == []  # type: ignore[arg-type]
    assert seen == [(None, "tcp://10.0.0.5:8786"), (["thuong-nong"], None)]


def test_without_the_setting_it_runs_in_process(
    seen: list[tuple[object, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOMSONG_CLUSTER", raising=False)
    assert analysis.analyze_communes(_Store(), None) == []  # type: ignore[arg-type]
    assert seen == [(None, None)]
