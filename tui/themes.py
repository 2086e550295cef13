"""Textual's theme lookup without its copies: App.get_theme copies the dict of every registered theme twice a call,
and the compositor asks for the current theme once per line it renders (~0.3 ms of a frame)."""

from __future__ import annotations

from textual.theme import Theme


class QuickThemeLookup:
    """Mixed into an App before textual's App: the same answers as App.get_theme (textual 8.2.8, pinned), read
    from the registered themes in place (`available_themes` is nothing but a copy of them)."""

    _registered_themes: dict[str, Theme]

    def get_theme(self, theme_name: str) -> Theme | None:
        for name in theme_name.split(","):
            theme = self._registered_themes.get(name.strip())
            if theme is not None:
                return theme
        return None
