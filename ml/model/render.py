"""Render a `Card` as Markdown and as a standalone HTML page, and write both.

Why both: Markdown reads well in a pull request or the MLflow UI's artifact view; HTML is what an
auditor opens from a shared folder. Both come from the same `Card`, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import html
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ml.model.card import Card
from ml.tracking import ensure_experiment

if TYPE_CHECKING:
    from mlflow import MlflowClient

TAG_CARD_URI = "ml.card.uri"
TAG_CARD_AT = "ml.card.updated_at"
CARD_DIR = "model_card"
CARD_EXPERIMENT = "ml-model-cards"

_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
    "text-align:left;vertical-align:top}th{background:#f4f4f4}.src{color:#777;font-size:.85em}"
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(card: Card) -> str:
    """The card as Markdown: one ``##`` heading per section, its source in italics, then its table."""
    aliases = f" ({', '.join('@' + a for a in card.aliases)})" if card.aliases else ""
    lines = [f"# Model card: {card.name} v{card.version}{aliases}", ""]
    for section in card.sections:
        lines += [f"## {section.title}", "", f"*Source: {section.source}*", ""]
        if section.text:
            lines += [section.text, ""]
        if section.rows:
            columns = section.columns or [""] * len(section.rows[0])
            lines.append("| " + " | ".join(_cell(c) for c in columns) + " |")
            lines.append("|" + "---|" * len(columns))
            lines += ["| " + " | ".join(_cell(str(v)) for v in row) + " |" for row in section.rows]
            lines.append("")
    return "\n".join(lines)


def to_html(card: Card) -> str:
    """The card as one self-contained HTML page (inline style, no scripts)."""
    esc = html.escape
    title = f"Model card: {card.name} v{card.version}"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"]
    parts.append(f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1>")
    if card.aliases:
        parts.append(f"<p>aliases: {esc(', '.join('@' + a for a in card.aliases))}</p>")
    for section in card.sections:
        parts.append(f"<h2>{esc(section.title)}</h2><p class='src'>Source: {esc(section.source)}</p>")
        if section.text:
            parts.append(f"<p>{esc(section.text)}</p>")
        if section.rows:
            parts.append("<table>")
            if section.columns:
                parts.append("<tr>" + "".join(f"<th>{esc(c)}</th>" for c in section.columns) + "</tr>")
            for row in section.rows:
                parts.append("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>")
            parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


def write_card(card: Card, directory: Path) -> tuple[Path, Path]:
    """Write ``<name>-v<version>.md`` and ``.html`` under ``directory``; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = f"{card.name}-v{card.version}"
    markdown, page = directory / f"{stem}.md", directory / f"{stem}.html"
    markdown.write_text(to_markdown(card))
    page.write_text(to_html(card))
    return markdown, page


def publish_card(client: MlflowClient, card: Card, *, artifact_root: str | None = None) -> str:
    """Log the card (Markdown + HTML) as artifacts next to the version and tag the version with where.

    The artifacts go to the version's training run under ``model_card/v<version>/`` (the run the
    model came from); a version registered without a run gets a run in ``ml-model-cards``. The
    version's tags ``ml.card.uri`` and ``ml.card.updated_at`` say where the current card is.
    ``artifact_root``: where a new ``ml-model-cards`` experiment keeps artifacts (a local stack).
    """
    version = client.get_model_version(card.name, card.version)
    run_id = version.run_id
    if not run_id:
        experiment_id = ensure_experiment(client, CARD_EXPERIMENT, artifact_root)
        run = client.create_run(experiment_id, run_name=f"{card.name}-v{card.version}-card")
        run_id = run.info.run_id
        client.set_terminated(run_id)
    where = f"{CARD_DIR}/v{card.version}"
    with tempfile.TemporaryDirectory() as scratch:
        for path in write_card(card, Path(scratch)):
            client.log_artifact(run_id, str(path), where)
    uri = f"runs:/{run_id}/{where}/{card.name}-v{card.version}.md"
    client.set_model_version_tag(card.name, card.version, TAG_CARD_URI, uri)
    client.set_model_version_tag(card.name, card.version, TAG_CARD_AT, dt.datetime.now(dt.UTC).isoformat())
    return uri
