"""Explain a process: where its RSS is (categories), which runtime and allocator hold it, the verdict and knob."""

from tui.core.explain.report import CannotExplain, Explanation, explain_pid, render_text

__all__ = ["CannotExplain", "Explanation", "explain_pid", "render_text"]
