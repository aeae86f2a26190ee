"""Fixtures of the indicator tests: the demo IRIS table and Dijon Métropole (real data)."""

from __future__ import annotations

import pytest

from fragility.iris_table import build_iris_table
from fragility.territory import Territory

DM = "242100410"


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # never the user's cache
        mp.setenv("FRAGILITY_DATA_DIR", str(tmp_path_factory.mktemp("demo-cache")))
        yield build_iris_table(Territory.demo())


@pytest.fixture(scope="session")
def real_dm(real_data, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FRAGILITY_DATA_DIR", str(tmp_path_factory.mktemp("real-cache")))
        yield build_iris_table(Territory.from_epci(DM, data_dir=real_data))
