"""Writes one small real file of every supported type (shared by parser and CLI tests)."""

from __future__ import annotations

import json
from pathlib import Path


def write_all(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    files["txt"] = folder / "wings.txt"
    files["txt"].write_text("Swept wings stall at the tips first. Washout delays the tip stall.")
    files["md"] = folder / "notes.md"
    files["md"].write_text("# Shock waves\n\nA normal shock forms ahead of a blunt body in supersonic flow.\n")
    from fpdf import FPDF

    pdf = FPDF()
    for page in ("Heat conduction in composite slabs.", "Laplace transforms solve the transient case."):
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.cell(0, 10, page)
    files["pdf"] = folder / "heat.pdf"
    pdf.output(str(files["pdf"]))
    import docx

    d = docx.Document()
    d.add_paragraph("Onion soup starts with slowly caramelised onions.")
    d.add_paragraph("Add stock and simmer for forty minutes.")
    files["docx"] = folder / "soup.docx"
    d.save(str(files["docx"]))
    files["csv"] = folder / "matches.csv"
    files["csv"].write_text("team,goals,text\nRovers,3,The striker scored twice in the second half.\nCity,0,\n")
    files["json"] = folder / "planets.json"
    files["json"].write_text(json.dumps([{"id": "mars", "title": "Mars", "text": "The red planet has two moons.",
                                          "moons": 2}, {"text": "Venus is wrapped in thick clouds."}]))
    files["jsonl"] = folder / "birds.jsonl"
    files["jsonl"].write_text('{"_id": "owl", "text": "Owls hunt at night.", "metadata": {"order": "Strigiformes"}}\n'
                              '{"_id": "tern", "text": "Arctic terns migrate pole to pole."}\n')
    (folder / ".hidden.txt").write_text("never read")
    (folder / "image.png").write_bytes(b"\x89PNG")
    return files
