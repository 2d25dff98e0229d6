"""What ``scangrade check`` prints: one line per finding, with the repair it implies."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pipeline.stages.check import Finding
from pipeline.telemetry.logs import one_line


def print_findings(console: Console, findings: list[Finding]) -> None:
    """A table of the findings, or one line saying every row is backed."""
    if not findings:
        console.print("no finding: every row's state is backed by its other rows")
        return
    table = Table("kind", "batch", "row", "why", "repair", title=f"{len(findings)} findings")
    for finding in findings:
        table.add_row(
            finding.kind,
            str(finding.batch_id),
            f"{finding.table} {finding.row_id}",
            one_line(finding.why),
            ("[green]auto[/] " if finding.fix else "") + one_line(finding.repair),
        )
    console.print(table)
