"""Markdown and HTML renderings of a report model (``_model.Report``).

Both walk the same sections and blocks; each escapes every string it is
given, so class names and parameter values are shown as written. Tables go
through the package's one table renderer (``sknets._tables``).
"""

import base64
import html
import re

from .._tables import escape_markdown, html_table, markdown_table
from ._model import Code, Details, Image, Table

__all__ = ["escape_markdown", "render_html", "render_markdown"]


def _markdown_table(table):
    return markdown_table(table.columns, table.rows, table.numeric)


def _markdown_blocks(blocks, level):
    out = []
    for block in blocks:
        if isinstance(block, str):
            out.append(escape_markdown(block))
        elif isinstance(block, list):
            out.append("\n".join(f"- {escape_markdown(item)}" for item in block))
        elif isinstance(block, Code):
            # A fence longer than any run of backticks in the text.
            fence = "`" * max(3, 1 + max((len(run) for run in re.findall(
                "`+", block.text)), default=0))
            out.append(f"{fence}\n{block.text}\n{fence}")
        elif isinstance(block, Table):
            out.append(_markdown_table(block))
        elif isinstance(block, Image):
            out.append(f"![{escape_markdown(block.title)}](figures/{block.file})")
        elif isinstance(block, Details):
            out.append(f"{'#' * level} {escape_markdown(block.summary)}")
            out += _markdown_blocks(block.blocks, level + 1)
    return out


def render_markdown(report):
    """The report as Markdown; figures link to ``figures/<file>``.

    Parameters
    ----------
    report : Report

    Returns
    -------
    text : str
    """
    out = [f"# {escape_markdown(report.title)}"]
    out.append("\n".join(f"- [{escape_markdown(s.title)}](#{s.id})"
                         for s in report.sections))
    for section in report.sections:
        out.append(f'<a id="{section.id}"></a>\n\n## {escape_markdown(section.title)}')
        out += _markdown_blocks(section.blocks, 3)
    return "\n\n".join(out) + "\n"


def _html_table(table):
    return html_table(table.columns, table.rows, table.numeric, table.wide)


def _html_blocks(blocks):
    out = []
    for block in blocks:
        if isinstance(block, str):
            out.append(f"<p>{html.escape(block)}</p>")
        elif isinstance(block, list):
            out.append("<ul>" + "".join(f"<li>{html.escape(item)}</li>"
                                        for item in block) + "</ul>")
        elif isinstance(block, Code):
            out.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
        elif isinstance(block, Table):
            out.append(_html_table(block))
        elif isinstance(block, Image):
            data = base64.b64encode(block.png).decode()
            title = html.escape(block.title)
            out.append(f'<figure><img alt="{title}" src="data:image/png;base64,{data}">'
                       f"<figcaption>{title}</figcaption></figure>")
        elif isinstance(block, Details):
            out.append(f"<details><summary>{html.escape(block.summary)}</summary>"
                       + "".join(_html_blocks(block.blocks)) + "</details>")
    return out


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:1.5em auto;"
    "padding:0 1em;color:#222;line-height:1.45}"
    "nav ol{columns:2;font-size:14px}"
    "#summary{background:#f6f8fa;border:1px solid #d8dee4;border-radius:6px;"
    "padding:.2em 1.2em 1em}"
    "table{border-collapse:collapse;font-size:13px;margin:.8em 0}"
    "th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left;"
    "white-space:nowrap}th{background:#f4f4f4}.num{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    ".wide{overflow-x:auto;max-width:100%}"
    "figure{display:inline-block;margin:.5em;vertical-align:top}"
    "img{max-width:100%}figcaption{font-size:12px;color:#555}"
    "details{margin:.4em 0}summary{cursor:pointer}"
    "pre{background:#f6f8fa;border:1px solid #d8dee4;border-radius:6px;"
    "padding:.6em 1em;white-space:pre-wrap;overflow-wrap:anywhere;font-size:13px}"
)


def render_html(report):
    """The report as one self-contained HTML page (figures embedded, no network).

    Parameters
    ----------
    report : Report

    Returns
    -------
    page : str
    """
    toc = "".join(f'<li><a href="#{s.id}">{html.escape(s.title)}</a></li>'
                  for s in report.sections)
    body = [f"<h1>{html.escape(report.title)}</h1>",
            f"<nav><strong>Contents</strong><ol>{toc}</ol></nav>"]
    for section in report.sections:
        body.append(f'<section id="{section.id}"><h2>{html.escape(section.title)}'
                    "</h2>" + "\n".join(_html_blocks(section.blocks)) + "</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(report.title)}</title><style>{_STYLE}</style>"
            "</head><body>\n" + "\n".join(body) + "\n</body></html>\n")


