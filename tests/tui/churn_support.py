"""Shared by the frame tests: examples/churn.yaml's real workloads driven under Pilot, and strips as cells."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tui.core.config import load_config
from tui.frames import LeanScreen
from tui.launch import create_app

CHURN = Path(__file__).resolve().parents[2] / "examples" / "churn.yaml"


def strip_cells(strips, x: int):
    """(column, (character, style)) of strips laid side by side from column x."""
    for strip in strips:
        for segment in strip:
            for char in segment.text:
                yield x, (char, str(segment.style))
                x += 1


def drive_churn(ready, steps) -> None:
    """examples/churn.yaml's real workloads under Pilot: wait until ready(), then each step, a key (str), a pause (a
    number of seconds), a new terminal size (a tuple) or a call with the app."""

    async def drive() -> None:
        app = create_app(load_config(str(CHURN)))
        try:
            async with app.run_test(size=(160, 48)) as pilot:
                assert isinstance(app.screen, LeanScreen)
                while not ready():
                    await pilot.pause(0.2)
                for step in steps:
                    if isinstance(step, str):
                        await pilot.press(step)
                    elif isinstance(step, tuple):
                        await pilot.resize_terminal(*step)
                    elif callable(step):
                        step(app)
                    else:
                        await pilot.pause(step)
        finally:
            app.lab.stop()

    asyncio.run(drive())
