"""The simulated customs over HTTP, for the tests of this folder."""

import pytest

from customs_sim import serve
from tally.customs.client import CustomsClient


@pytest.fixture
def sim():
    with serve() as simulator:
        yield simulator


@pytest.fixture
def client(sim):
    return CustomsClient(sim.url, timeout=5)
