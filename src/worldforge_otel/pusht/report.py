"""The showcase on the terminal: a ``rich`` progress bar while it plans, a summary table at the end."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from worldforge_otel.pusht.run import ShowcaseRun, StepOutcome


@contextmanager
def progress(total: int) -> Iterator[Callable[[StepOutcome], None]]:
    """Yields the ``on_step`` callback that advances a progress bar showing the pose error and coverage."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    status = TextColumn("{task.fields[status]}")
    columns = (TextColumn("[bold]PushT planning"), BarColumn(), MofNCompleteColumn(), status, TimeElapsedColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task("plan", total=total, status="")

        def advance(outcome: StepOutcome) -> None:
            status = f"pose error {outcome.pose_error:6.1f} · coverage {outcome.coverage:5.1%}"
            bar.update(task, advance=1, status=status)

        yield advance


def print_summary(run: ShowcaseRun, *, destinations: list[tuple[str, str]]) -> None:
    """The summary table: steps, goal coverage, pose error, best score, latencies, where the data went."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="PushT showcase", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    settings = run.settings
    table.add_row("planning", f"{len(run.steps)} steps, each {settings.rounds} search rounds of {settings.candidates} "
                              f"candidates ({settings.horizon}+ actions each)")
    table.add_row("success", f"yes, after {run.actions} actions ({run.actions / 10:.1f} s)" if run.succeeded
                  else f"no ({run.actions} actions)")  # fmt: skip
    table.add_row("seed", str(settings.seed))
    table.add_row("pose error", f"{run.initial_pose_error:.1f} → {run.final_pose_error:.1f}")
    final_coverage = run.steps[-1].coverage if run.steps else run.initial_coverage
    table.add_row("goal coverage", f"{run.initial_coverage:.1%} → {final_coverage:.1%} (best {run.best_coverage:.1%})")
    if run.steps:
        table.add_row("best score", f"{min(s.best_score for s in run.steps):.1f} (lower is better)")
    for name in ("policy", "score", "execute"):
        p50, p95 = run.latency_percentiles(name)
        table.add_row(f"{name} latency", f"p50 {p50:.2f} ms · p95 {p95:.2f} ms")
    table.add_row("models", escape(run.source))
    for what, where in destinations:
        table.add_row(escape(what), escape(where))
    Console().print(table)
