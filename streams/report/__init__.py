"""`dipwatch report`: one self-contained HTML page of what dipwatch decided on a file of updates.

The CLI replays and scores; this package only turns events, picked points and scores into the page,
so it stays an adapter that imports nothing but the engine.
"""

from streams.report.page import Facts, ScoreTable, render_page
from streams.report.points import PointPicker, plot_window

__all__ = ["Facts", "PointPicker", "ScoreTable", "plot_window", "render_page"]
