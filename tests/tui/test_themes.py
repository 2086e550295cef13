"""QuickThemeLookup answers exactly as textual's App.get_theme, for every theme, lists of names and unknown ones."""

from __future__ import annotations

from textual.app import App
from textual.theme import Theme

from tui.themes import QuickThemeLookup


class Quick(QuickThemeLookup, App):
    pass


def test_same_theme_as_textual_for_every_name():
    quick, textual = Quick(), App()
    for app in (quick, textual):
        app.register_theme(Theme(name="mine", primary="#123456"))
    names = list(textual.available_themes)
    assert "mine" in names and len(names) > 10
    queries = names + [f"nope, {names[3]}", f" {names[5]} ,{names[2]}", "nope", "", "nope,also-nope", "mine"]
    for query in queries:
        got, want = quick.get_theme(query), textual.get_theme(query)
        assert (got.name if got else None) == (want.name if want else None), query
    quick.unregister_theme("mine")
    assert quick.get_theme("mine") is None
    assert quick.current_theme.name == textual.current_theme.name
