"""A panel draws a changed content line inside the border and padding Textual drew last time: every line it renders
under real churn, after a focus change and after a theme change, is what Textual's styles cache renders."""

from __future__ import annotations

from textual.widget import Widget

from churn_support import drive_churn, strip_cells
from tui.widgets.panel import WorkloadPanel


def _toggle_theme(app) -> None:
    app.theme = "textual-light" if app.theme != "textual-light" else "nord"


def test_a_panel_renders_what_textual_renders(monkeypatch):
    original = WorkloadPanel.render_lines
    seen = {"lines": 0, "framed": 0}
    mismatches: list[str] = []

    def checked(panel: WorkloadPanel, crop):  # type: ignore[no-untyped-def]
        framed = panel._frame is not None
        ours = original(panel, crop)
        panel._styles_cache.clear()  # Textual's own path for every line, borders and content alike
        textual = Widget.render_lines(panel, crop)
        seen["lines"] += crop.height
        seen["framed"] += crop.height if framed else 0
        for y, (a, b) in enumerate(zip(ours, textual, strict=True)):
            if list(strip_cells((a,), 0)) != list(strip_cells((b,), 0)):
                mismatches.append(f"{panel.workload} line {crop.y + y}: {a.text!r} vs {b.text!r}")
        return ours

    monkeypatch.setattr(WorkloadPanel, "render_lines", checked)
    drive_churn(lambda: seen["framed"] >= 40, ["tab", 1.0, _toggle_theme, 1.0, "tab", 1.0, _toggle_theme, 1.0])
    assert seen["framed"] >= 80, seen  # the frame was used: the comparison is not of Textual with itself
    assert not mismatches, mismatches[:5]
