"""Widgets of the live dashboard: they draw values handed to them and do no I/O."""
