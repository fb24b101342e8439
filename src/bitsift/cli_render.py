"""Human-readable search results for the terminal (rich tables)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def print_results(query: str, response: dict[str, Any], console: Console | None = None,
                  judged: dict[str, int] | None = None, width: int = 90) -> None:
    """One table of ranked results: score, label, id and the start of the text.

    ``judged`` (id -> relevance grade), when given, adds a column saying whether a human
    judged the hit relevant, as in the demo.
    """
    console = console or Console()
    table = Table(title=f"[bold]{query}[/bold]", title_justify="left", show_lines=False)
    table.add_column("#", justify="right", no_wrap=True, min_width=2)
    table.add_column("score", justify="right", no_wrap=True, min_width=5)
    results = response["results"]
    table.add_column("label", no_wrap=True, min_width=19)
    table.add_column("id", no_wrap=True, min_width=min(40, max((len(r["id"]) for r in results), default=2)))
    if judged is not None:
        table.add_column("judged")
    table.add_column("text", overflow="ellipsis", no_wrap=True, ratio=1)
    for rank, r in enumerate(results, 1):
        text = " ".join((r.get("text") or "").split())
        row = [str(rank), f"{r['score']:.3f}", r["label"], r["id"]]
        if judged is not None:
            grade = judged.get(str(r.get("metadata", {}).get("document_id", r["id"])))
            row.append("" if grade is None else f"relevant ({grade})")
        table.add_row(*row, text)
    console.print(table)
    t = response.get("timings", {})
    console.print(f"  {len(response['results'])} results; search {t.get('total_ms', 0):.1f} ms "
                  f"(embed+validate {t.get('validate_ms', 0):.1f}, scan {t.get('scan_ms', 0):.2f}, "
                  f"fetch {t.get('fetch_ms', 0):.2f})\n")
