"""The report's model: sections of paragraphs, lists, tables and figures.

``_report`` builds it from a run folder; ``_render`` renders it as Markdown
and HTML. Neither imports the other's insides through it.
"""

from dataclasses import dataclass, field

__all__ = ["Code", "Details", "Image", "Report", "Section", "Table"]


@dataclass
class Code:
    """Text shown verbatim in a monospaced block: a command to copy."""

    text: str


@dataclass
class Table:
    """A table of formatted cells; ``numeric`` columns are right-aligned."""

    columns: list
    rows: list
    numeric: list | None = None
    wide: bool = False  # may scroll sideways (per-class tables)


@dataclass
class Image:
    """A figure: its file name under figures/, its title and its PNG bytes."""

    file: str
    title: str
    png: bytes


@dataclass
class Details:
    """Blocks shown collapsed under a one-line summary."""

    summary: str
    blocks: list


@dataclass
class Section:
    """A titled part of the report; blocks are str (a paragraph), list of str
    (a bullet list), Code, Table, Image or Details."""

    id: str
    title: str
    blocks: list = field(default_factory=list)


@dataclass
class Report:
    """A comparison's report, ready to render."""

    title: str
    sections: list
