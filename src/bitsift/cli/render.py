"""Human-readable search results for the terminal.

Plain lines rather than a table: a ranked list stays readable at any terminal width
and when piped, and the passage gets a line of its own.
"""

from __future__ import annotations

import shutil
from typing import Any

import click


def print_results(query: str, response: dict[str, Any], judged: dict[str, int] | None = None) -> None:
    """Rank, score, label and id of each hit, then the start of its text.

    ``judged`` (document id -> relevance grade), when given, marks hits a human judged
    relevant, as in the demo.
    """
    width = max(60, min(shutil.get_terminal_size((100, 20)).columns, 120))
    click.secho(f"query: {query}", bold=True)
    for rank, r in enumerate(response["results"], 1):
        note = ""
        if judged is not None:
            grade = judged.get(str(r.get("metadata", {}).get("document_id", r["id"])))
            note = "  [judged relevant, grade %d]" % grade if grade else ""
        fused = "".join(f"  {name} {r[key]:.3g}" for key, name in (("keyword_score", "bm25"), ("fusion_score", "fused"))
                        if key in r)  # keyword and hybrid modes: what the order is by
        click.echo(f"  {rank:>2}. {r['score']:.3f}  {r['label']:<19}  {r['id']}{fused}{note}")
        text = " ".join((r.get("text") or "").split())
        if text:
            click.echo("      " + (text if len(text) <= width - 6 else text[: width - 9] + "..."))
    t = response.get("timings", {})
    click.echo(f"  {len(response['results'])} results in {t.get('total_ms', 0):.1f} ms "
               f"(embed + checks {t.get('validate_ms', 0):.1f}, scan {t.get('scan_ms', 0):.2f}, "
               f"fetch {t.get('fetch_ms', 0):.2f}; mode {response.get('mode', '?')})\n")
