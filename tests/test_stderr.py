"""qa.core.stderr: what C libraries print on descriptor 2 is silenced, and only in the block."""

from __future__ import annotations

import os
import sys

import pytest

from qa.core.stderr import quiet_stderr


def test_the_descriptor_is_silenced_in_the_block_and_restored(
        capfd: pytest.CaptureFixture[str]) -> None:
    sys.stderr.write("before\n")  # buffered by Python: flushed, not lost
    with quiet_stderr():
        os.write(2, b"a load log from C\n")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "before\nafter\n"
