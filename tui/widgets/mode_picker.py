"""The `M` modal: pick any madvise mode for the focused workload, with what each does on this machine."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

MODES: tuple[tuple[str, str], ...] = (
    ("MADV_FREE", "lazy: RSS stays, pages become LazyFree until memory pressure"),
    ("MADV_DONTNEED", "eager: RSS drops now; reuse faults in zeroed pages"),
    ("MADV_COLD", "hint: move pages to the inactive list"),
    ("MADV_PAGEOUT", "reclaim now (anonymous pages need swap)"),
    ("munmap", "unmap the span: RSS drops, address space too"),
    ("none", "never return memory: RSS stays, LazyFree stays 0"),
)
_NEEDS_SWAP = ("MADV_COLD", "MADV_PAGEOUT")


def mode_description(mode: str, description: str, swap_total_bytes: int) -> str:
    if mode in _NEEDS_SWAP and swap_total_bytes == 0:
        return f"{description}; no swap here: RSS won't change"
    return description


class ModePicker(ModalScreen[str | None]):
    """Dismisses with the chosen mode, or None on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="mode.cancel")]

    DEFAULT_CSS = """
    ModePicker { align: center middle; }
    ModePicker > Vertical {
        width: 110; max-width: 98%; height: auto;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ModePicker OptionList { height: auto; max-height: 12; }
    """

    def __init__(self, workload: str, current_mode: str, swap_total_bytes: int) -> None:
        super().__init__()
        self.workload = workload
        self.current_mode = current_mode
        self.swap_total_bytes = swap_total_bytes

    def compose(self) -> ComposeResult:
        options = []
        for mode, description in MODES:
            mark = "●" if mode == self.current_mode else " "
            text = f"{mark} {mode:<14} {mode_description(mode, description, self.swap_total_bytes)}"
            options.append(Option(text, id=mode))
        with Vertical():
            yield Label(f"madvise mode for [b]{self.workload}[/b] (enter to apply, escape to cancel)")
            yield OptionList(*options, id="modes")

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        ids = [mode for mode, _ in MODES]
        if self.current_mode in ids:
            option_list.highlighted = ids.index(self.current_mode)
        option_list.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
