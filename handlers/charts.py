"""Charts drawn on the server with matplotlib (Agg, no display): PNG files for chat posts, SVG
text for the dashboard. Nothing here loads anything from another host."""

from __future__ import annotations

import io
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before anything else from matplotlib: never a display

from matplotlib.figure import Figure  # noqa: E402

CHART_DIR = Path(tempfile.gettempdir()) / "phonebank-charts"
KEEP_SECONDS = 24 * 3600  # charts are uploaded at once; older files are removed
MAX_BARS = 15


def bar_chart_png(title: str, labels: Sequence[str], values: Sequence[float]) -> Path:
    """A horizontal bar chart (best at the top) written to a new PNG file; its path."""
    shown = list(zip(labels, values, strict=True))[:MAX_BARS]
    figure = Figure(figsize=(6, 1 + 0.35 * max(len(shown), 1)), dpi=100)
    axes = figure.add_subplot()
    axes.barh([label for label, _ in reversed(shown)], [value for _, value in reversed(shown)])
    axes.set_title(title)
    axes.spines[["top", "right"]].set_visible(False)
    figure.tight_layout()
    return _save(figure)


def burn_up_svg(
    title: str, days: Sequence[date], cumulative: Sequence[int], target: int, deadline: date | None
) -> str:
    """A goal's burn-up: the running total per day, the target line and the deadline; SVG text."""
    figure = Figure(figsize=(6, 2.6), dpi=100)
    axes = figure.add_subplot()
    if days:
        axes.plot(
            list(days),  # type: ignore[arg-type]
            list(cumulative),
            drawstyle="steps-post",
            marker="o",
            label="done",
        )
    axes.axhline(target, linestyle="--", color="grey", label=f"target {target:,}")
    if deadline is not None:
        axes.axvline(deadline, linestyle=":", color="grey")  # type: ignore[arg-type]
    ends = [*days[:1], *days[-1:], *([deadline] if deadline else [])]
    if ends:
        axes.set_xlim(min(ends) - timedelta(days=1), max(ends) + timedelta(days=1))  # type: ignore[arg-type]
    axes.set_ylim(0, max(target, *cumulative, 1) * 1.1)
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    return _svg(figure)


def hourly_svg(
    title: str, hours: Sequence[int], dials: Sequence[int], contacts: Sequence[int]
) -> str:
    """Calls and contacts by hour of the day; SVG text."""
    figure = Figure(figsize=(6, 2.4), dpi=100)
    axes = figure.add_subplot()
    axes.bar(list(hours), list(dials), label="dials")
    axes.bar(list(hours), list(contacts), label="contacts")
    axes.set_xticks(range(0, 24, 3))
    axes.set_title(title)
    axes.legend(loc="upper left", fontsize="small")
    figure.tight_layout()
    return _svg(figure)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # the element alone, to sit inside the page


def _save(figure: Figure) -> Path:
    CHART_DIR.mkdir(parents=True, exist_ok=True)
    _remove_old()
    path = CHART_DIR / f"{uuid.uuid4().hex}.png"
    figure.savefig(path, format="png")
    return path


def _remove_old() -> None:
    cutoff = time.time() - KEEP_SECONDS
    for old in CHART_DIR.glob("*.png"):
        try:
            if old.stat().st_mtime < cutoff:
                old.unlink()
        except OSError:
            pass  # another process removed it first
