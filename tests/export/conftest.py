"""Fixtures of the exporter tests: the MADV_FREE child process (not ours) they export."""

import pytest

from export_support import end_child, start_child


@pytest.fixture
def child():
    proc = start_child()
    yield proc
    end_child(proc)
