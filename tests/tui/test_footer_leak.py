"""Focus changes must not leak: each one recomposes the key footer, and textual 8.2.8 kept every old FooterKey
alive through its Footer's watcher list (~1 MiB per `tab` in bench 10). BoundedFooter lets them go."""

from __future__ import annotations

import gc

from textual.widgets._footer import FooterKey
from tui_fakes import SYSTEM_INFO, FakeLab

from app_support import sync
from tui.app import MadviseLabApp
from tui.widgets.footer import BoundedFooter, prune_closed_watchers

TABS = 40


def _footer_keys() -> list[FooterKey]:
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, FooterKey)]


@sync
async def test_tab_after_tab_keeps_one_set_of_footer_keys():
    app = MadviseLabApp(FakeLab(), SYSTEM_INFO, mem_available=lambda: 1 << 34)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        one_set = sum(1 for key in _footer_keys() if key.is_attached)
        assert one_set > 0
        for _ in range(TABS):
            await pilot.press("tab")
            await pilot.pause()
        await pilot.pause(0.2)
        alive = _footer_keys()
        # the attached set, and at most the set the last recompose is still letting go
        assert len(alive) <= 2 * one_set, f"{len(alive)} FooterKeys alive after {TABS} focus changes ({one_set} shown)"
        assert isinstance(app.query_one(BoundedFooter), BoundedFooter)
        assert prune_closed_watchers(app.query_one(BoundedFooter)) == 0  # nothing dead left to prune
