"""Where a run stands, in the words the run page, progress.json and run_suite share."""

from __future__ import annotations

from runs import services
from runs.models import Run


def format_duration(seconds: float | None) -> str:
    """A duration as people read it: '45 s', '3 min 05 s', '2 h 07 min'; a dash when unknown."""
    if seconds is None:
        return "\N{EN DASH}"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def progress_of(run: Run) -> dict:
    """`run_progress` with where the run stands and what may be done with it next.

    The run page renders it and progress.json returns it, so both say the same.
    """
    progress = services.run_progress(run)
    eta = progress["eta_seconds"]
    return {
        **progress,
        "status": run.status,
        "status_display": run.get_status_display(),
        "is_finished": run.is_finished,
        "can_pause": run.can_pause,
        "can_resume": run.can_resume,
        "can_cancel": run.can_cancel,
        "stop_reason": run.stop_reason,
        "error": run.error,
        "eta": format_duration(eta)
        if eta is not None or run.status != Run.Status.RUNNING
        else "not known yet",
        "elapsed": format_duration(progress["elapsed_seconds"]),
    }
