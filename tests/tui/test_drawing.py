"""Pure drawing helpers: sparkline characters, time-aligned cells, chart downsampling and ticks, mode texts."""

from __future__ import annotations

from tui.core.views import bucket_last
from tui.core.views import nice_step
from tui.widgets.chart import downsample
from tui.widgets.format import mib
from tui.widgets.mode_picker import mode_description
from tui.core.views import PanelView
from tui.widgets.panel import footer_text, spark, status_text


def test_spark_scales_to_top_and_keeps_zero_blank():
    assert spark((0.0, 50.0, 100.0), 3, 100.0) == " ▄█"
    assert spark((1.0,), 1, 1000.0) == "▁"  # anything above zero shows
    assert spark((100.0,), 4, 100.0) == "   █"  # right-aligned: newest at the right edge
    assert spark((), 3, 0.0) == "   "


def test_bucket_last_is_aligned_to_absolute_time():
    t_s = [i * 0.1 for i in range(35)]  # 0.0 .. 3.4
    picked = bucket_last(t_s, 1.0, 3)
    assert [round(t_s[i], 1) for i in picked] == [1.9, 2.9, 3.4]
    # one more sample in the same second moves only the newest cell
    t_s.append(3.5)
    assert [round(t_s[i], 1) for i in bucket_last(t_s, 1.0, 3)] == [1.9, 2.9, 3.5]


def test_downsample_keeps_the_newest_point_and_the_bound():
    xs = tuple(float(i) for i in range(1000))
    out_x, out_y = downsample(xs, xs, 100)
    assert len(out_x) <= 100 and out_x[-1] == 999.0 and out_y == out_x
    assert downsample((), (), 10) == ([], [])


def test_nice_step_is_round():
    assert nice_step(600) == 200
    assert nice_step(40, ticks=8) == 5
    assert nice_step(9) == 2


def test_cold_and_pageout_say_rss_will_not_change_without_swap():
    assert "RSS won't change" in mode_description("MADV_COLD", "hint", 0)
    assert "RSS won't change" not in mode_description("MADV_COLD", "hint", 1 << 30)
    assert "RSS won't change" not in mode_description("MADV_FREE", "lazy", 0)


def test_status_and_footer_texts():
    dead = PanelView("w", 42, "exited", 3, "MADV_FREE", last_error="EINVAL")
    assert "exited (code 3): EINVAL" in "".join(text for text, _ in status_text(dead))  # the first line
    assert "EINVAL" not in "".join(text for text, _ in footer_text(dead))  # said once
    alive = PanelView("w", 42, "running", None, "MADV_FREE", footprint_bytes=17 << 20, gc_count=4)
    footer = "".join(text for text, _ in footer_text(alive))
    assert "footprint 17.0 MiB" in footer and "GC 4" in footer
    assert mib(None) == "—"


def test_a_panel_counts_cells_as_rich_does():
    """The panel's fast width (ASCII, sparkline blocks) agrees with rich's cell_len, wide characters included."""
    from rich.cells import cell_len

    from tui.widgets.panel import SPARK_CHARS, cell_width, spark

    texts = ["pid 123", spark((1.0, 5.0, 0.0, 9.0), 8, 9.0), SPARK_CHARS, "✖ exited: 内存不足", "● running",
             "madvise MADV_FREE", "🧠 heap", "footprint 17.7 MiB (RSS−LazyFree)", ""]
    for text in texts:
        assert cell_width(text) == cell_len(text), text
