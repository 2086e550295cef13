"""Cheaper frames: painted in the wake that changed them, rendering only the widgets and rows they touched."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from textual._compositor import Compositor, CompositorUpdate, LayoutUpdate
from textual.geometry import Region
from textual.app import ScreenStackError
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget


class LeanCompositor(Compositor):
    """Textual's compositor, with partial updates that render less.

    For a partial update Textual crops to the box around all the frame's changed regions, then renders every widget
    whose clip (its parent's region) overlaps that box, and a widget wholly on screen in full: a panel's four
    changed rows made it render the screen (48 rows), the header, the footer and every box beside them, ~8 widgets
    a frame. Here, when each changed region lies inside the front-most widget there (the common case: a panel's
    changed lines), the update is that widget's lines for the region, written as they are (`direct_update`: no
    chops, no cutting and re-joining of every line). Otherwise a widget is rendered only when one of the changed
    regions overlaps the part of it that is on screen, and only the rows from the first to the last changed one
    inside it; the chops and the output are Textual's own. Full updates (a resize, a new layout, the snapshot
    tests) are Textual's unchanged.
    """

    def __init__(self) -> None:
        super().__init__()
        self._frame_regions: list[Region] | None = None  # the changed regions while a partial update renders

    def render_partial_update(self):  # type: ignore[no-untyped-def]  # Textual's signature
        regions = list(self._dirty_regions)
        direct = self.direct_update(regions)
        if direct is not None:
            self._dirty_regions.clear()
            return direct
        self._frame_regions = regions
        try:
            return super().render_partial_update()
        finally:
            self._frame_regions = None

    def direct_update(self, regions: list[Region]) -> "DirectUpdate | None":
        """The update when each changed region lies wholly inside the front-most widget there (a panel's lines, the
        trace pane's): that widget's lines for it, as they are. Its cells are what the chops would take, since the
        front widget wins every cut, without cutting and re-joining each line. None when widgets meet inside a
        region: then Textual's chops decide, cut by cut."""
        if not regions:
            return None
        screen = self.size.region
        shown = [(widget, region, region.intersection(clip)) for widget, (region, clip) in self.visible_widgets.items()]
        updates: list[LayoutUpdate] = []
        for changed in regions:
            changed = changed.intersection(screen)
            if not changed:
                continue
            for widget, region, visible in shown:  # front to back: the first one there is the one seen
                if visible.overlaps(changed):
                    if not visible.contains_region(changed):
                        return None
                    crop = Region(changed.x - region.x, changed.y - region.y, changed.width, changed.height)
                    updates.append(LayoutUpdate([[line] for line in widget.render_lines(crop)], changed))
                    break
            else:
                return None  # nothing on screen there (never, the screen is behind all): Textual's way
        return DirectUpdate(updates)

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        changed = self._frame_regions
        if crop is None or changed is None:
            yield from super()._get_renders(crop)
            return
        for widget, (region, clip) in self.visible_widgets.items():  # front to back, as Textual's order
            visible = region.intersection(clip)
            top, bottom = visible.bottom, visible.y
            for update in changed:
                part = visible.intersection(update)
                if part:
                    top, bottom = min(top, part.y), max(bottom, part.bottom)
            if top >= bottom:
                continue  # nothing of this widget changed: its cells on screen stay as they are
            # whole rows of what is visible: the chops cut a widget at its own left edge, so its strips must start there
            rows = Region(visible.x, top, visible.width, bottom - top)
            yield rows, rows, widget.render_lines(Region(visible.x - region.x, top - region.y, rows.width, rows.height))


class DirectUpdate(CompositorUpdate):
    """Several regions, each painted from one widget's lines (what `LeanCompositor.direct_update` found)."""

    def __init__(self, updates: list[LayoutUpdate]) -> None:
        self.updates = updates

    def __rich_console__(self, console, options):  # type: ignore[no-untyped-def]  # a renderable, as Textual's
        for update in self.updates:
            yield from update.__rich_console__(console, options)

    def render_segments(self, console) -> str:  # type: ignore[no-untyped-def]
        return "".join([update.render_segments(console) for update in self.updates])


class LeanScreen(Screen):
    """A screen whose partial updates use LeanCompositor, and that can paint at once."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._compositor = LeanCompositor()

    def paint(self, widgets: Iterable[Widget]) -> None:
        """Paint what `widgets` refreshed now, in this wake-up.

        Textual would have each refreshed widget post the screen an Update message when idle, and the screen's frame
        timer fire a tick later: two more wake-ups of the event loop per frame, and a message per widget. Anything
        else (a layout, a scroll, an update inside a batch) is left to Textual's own frame.
        """
        if self.app._batch_count or not self.is_current or self._layout_required or self._scroll_required:
            return
        dirty = [widget for widget in widgets if widget._repaint_required and widget.display]
        if not dirty:
            return
        for widget in dirty:
            widget._repaint_required = False  # Textual's idle check would post its Update: it is painted here
        self._dirty_widgets.update(dirty)
        self._compositor.update_widgets(self._dirty_widgets)
        self._compositor_refresh()


class LeanFrames:
    """App mixin: the default screen is a LeanScreen; `paint_now` and `loop_timer` for the app's own frames."""

    def get_default_screen(self) -> Screen:
        return LeanScreen(id="_default")

    def paint_now(self, widgets: Iterable[Widget]) -> None:
        """Paint these widgets' changes at once (on a LeanScreen; a modal screen on top paints as Textual does)."""
        try:
            screen = self.screen  # type: ignore[attr-defined]
        except ScreenStackError:
            return  # the app is closing: nothing to paint on
        if isinstance(screen, LeanScreen):
            screen.paint(widgets)

    def loop_timer(self, delay_s: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        """`callback` after `delay_s` on the event loop, as one loop timer: a Textual Timer is a task with an event
        and a sleep, and the app sets one per frame. An exception in it ends the app as Textual's timers do."""
        return asyncio.get_running_loop().call_later(delay_s, self._guarded, callback)

    def call_from_any_thread(self, callback: Callable[[], None]) -> bool:
        """`callback` soon on the event loop, from any thread, as a loop callback: a Textual message would wake the
        app's message task and look its handler up; False when the app is closing (nothing will run)."""
        loop = self._loop  # type: ignore[attr-defined]
        if loop is None or self._closing or self._closed:  # type: ignore[attr-defined]
            return False
        try:
            loop.call_soon_threadsafe(self._from_thread, callback)
        except RuntimeError:  # the loop is closed
            return False
        return True

    def _from_thread(self, callback: Callable[[], None]) -> None:
        # a callback runs in the context of the thread that scheduled it, where no app is active; Textual's code
        # (and every timer or task made in the callback, which copy the context) needs the app's
        with self._context():  # type: ignore[attr-defined]
            self._guarded(callback)

    def _guarded(self, callback: Callable[[], None]) -> None:
        # exiting or shut down (run_test's exit sets no _exit): the DOM may be half torn down; Textual's own timers
        # are stopped or skip then too
        if self._exit or not self.is_running:  # type: ignore[attr-defined]
            return
        try:
            callback()
        except Exception as error:  # noqa: BLE001 - handed to Textual, which shows it and exits
            self._handle_exception(error)  # type: ignore[attr-defined]
