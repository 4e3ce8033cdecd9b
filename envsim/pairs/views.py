"""What `envsim pairs` prints: the job's state, size, diversity figures and files."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table

from envsim.pairs.runner import DIVERSITY_FILE, PAIRS_FILE
from envsim.pairs.types import JobStatus


def pairs_table(status: JobStatus, out_dir: Path) -> Table:
    table = Table(title=f"envsim pairs -> {out_dir}", title_justify="left", show_header=False)
    table.add_row("state", status.state.value)
    table.add_row("pairs", f"{len(status.data or [])} of {status.pairs_requested}")
    report = status.diversity
    if report is not None:
        table.add_row("distinct-1 / distinct-2", f"{report.distinct_1:.3f} / {report.distinct_2:.3f}")
        table.add_row("  seeds", f"{report.seed_distinct_1:.3f} / {report.seed_distinct_2:.3f}")
        table.add_row(
            "similarity to nearest seed",
            f"jaccard {report.mean_jaccard_to_nearest_seed:.3f}, "
            f"char-3 cosine {report.mean_char3_cosine_to_nearest_seed:.3f}",
        )
        table.add_row("duplicates dropped", str(report.duplicates_dropped))
    table.add_row("files", f"{out_dir / PAIRS_FILE}, {out_dir / DIVERSITY_FILE}")
    return table
