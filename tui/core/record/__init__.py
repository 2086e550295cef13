"""Recordings: the recorder, the one module that writes and reads the format, the summary and the SVG chart."""
