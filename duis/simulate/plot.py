"""The plot of a fleet simulation: Suspended devices over simulated time, one
line per profile, as a PNG.  matplotlib runs headless (the Agg backend), and
is imported only when a plot is asked for; it is the optional extra
``duis[plot]``."""

from __future__ import annotations

import io

from ..errors import MissingExtra
from .report import SimulationReport

#: how each profile's line looks (colour, width, dashes): the lines overlap until the
#: recovery starts, so the first drawn are the widest
STYLES = {"baseline": ("#d62728", 4.0, "-"), "mp105-option1": ("#ff7f0e", 2.4, "--"),
          "mp105-option2": ("#2ca02c", 1.4, "-")}
OTHER_STYLE = (None, 1.4, ":")


def plot_png(report: SimulationReport, *, width: float = 9.0, height: float = 5.0,
             dpi: int = 100) -> bytes:
    """The PNG bytes of the plot (the caller writes them, e.g. atomically); raises
    :class:`~duis.errors.MissingExtra` when matplotlib (``duis[plot]``) is absent."""
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra("plotting needs matplotlib, which is not installed",
                           expected="pip install 'duis[plot]'",
                           found="no module named matplotlib") from None
    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure  # no pyplot: no global state, no screen

    figure = Figure(figsize=(width, height), dpi=dpi)
    axes = figure.add_subplot()
    for result in report.results:
        hours = [seconds / 3600 for seconds in result.timeline.seconds]
        counts = list(result.timeline.suspended)
        if hours and hours[-1] < result.simulated_seconds / 3600:
            hours.append(result.simulated_seconds / 3600)
            counts.append(counts[-1])
        label = (f"{result.profile}: {result.wrongly_suspended:,} left wrongly Suspended "
                 f"({result.wrongly_suspended_share:.1%})")
        colour, width, dashes = STYLES.get(result.profile, OTHER_STYLE)
        axes.step(hours, counts, where="post", label=label, color=colour, linewidth=width,
                  linestyle=dashes)
    settings = report.settings
    signed = "signed" if settings.get("signing") else "unsigned"
    axes.set_title(f"Suspended devices during a firmware campaign: "
                   f"{settings.get('devices', 0):,} devices, "
                   f"{settings.get('lost', 0):.0%} of 11.3 responses lost ({signed})",
                   fontsize=10)
    axes.set_xlabel("simulated time (hours)")
    axes.set_ylabel("devices Suspended in the SMI")
    axes.set_ylim(bottom=0)
    axes.set_xlim(left=0)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
