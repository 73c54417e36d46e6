"""The readable twin of a model card (``<stem>.md`` beside ``<stem>.json``), one layout for SR and style models."""
from __future__ import annotations


def render_card(title: str, intro: list[str], rows: list[tuple[str, str]], sections: list[list[str]]) -> str:
    """``# title``, the ``intro`` paragraphs, a field/value table of ``rows``, then each section's lines."""
    lines = [f"# {title}", ""]
    for paragraph in intro:
        lines += [paragraph, ""]
    lines += ["| field | value |", "|---|---|", *(f"| {field} | {value} |" for field, value in rows), ""]
    for section in sections:
        lines += [*section, ""]
    return "\n".join(lines)
