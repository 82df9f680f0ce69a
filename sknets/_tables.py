"""Tables as Markdown and HTML: the one renderer of the package's tables.

``markdown_table`` and ``html_table`` take a header and rows of already
formatted cells and escape every cell, so class names and parameter values
are shown as written; ``Evaluation.to_markdown`` and the study report both
render through them.
"""

import html
import re

__all__ = ["escape_markdown", "html_table", "markdown_table"]

_MARKDOWN_SPECIAL = re.compile(r"([\\`*\[\]|#!{}])")


def escape_markdown(text):
    """Text shown as written in Markdown (GitHub's and CommonMark's).

    Parameters
    ----------
    text : str

    Returns
    -------
    escaped : str
        HTML's ``& < >`` as entities, Markdown's punctuation and ``|`` (a
        table cell's end) backslash-escaped, ``_`` at a word's edge escaped.

    Examples
    --------
    >>> from sknets._tables import escape_markdown
    >>> escape_markdown("<script>a|b</script>")
    '&lt;script&gt;a\\\\|b&lt;/script&gt;'
    """
    text = html.escape(str(text), quote=False)
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", text)
    text = re.sub(r"(?<!\w)_|_(?!\w)", r"\\_", text)
    return text.replace("\n", " ")


def markdown_table(columns, rows, numeric=None):
    """A Markdown table; ``numeric`` columns are right-aligned.

    Parameters
    ----------
    columns : list of str
        The header.
    rows : list of list of str
        Formatted cells, one list per row.
    numeric : list of bool, default=None
        Per column, whether it is right-aligned.

    Returns
    -------
    text : str

    Examples
    --------
    >>> from sknets._tables import markdown_table
    >>> print(markdown_table(["class", "n"], [["a|b", "3"]], [False, True]))
    | class | n |
    | --- | ---: |
    | a\\|b | 3 |
    """
    numeric = numeric or [False] * len(columns)
    lines = ["| " + " | ".join(escape_markdown(c) for c in columns) + " |",
             "| " + " | ".join("---:" if numeric[i] else "---"
                               for i in range(len(columns))) + " |"]
    lines += ["| " + " | ".join(escape_markdown(c) for c in row) + " |"
              for row in rows]
    return "\n".join(lines)


def html_table(columns, rows, numeric=None, wide=False):
    """An HTML table; ``numeric`` columns get ``class="num"``.

    Parameters
    ----------
    columns : list of str
    rows : list of list of str
    numeric : list of bool, default=None
    wide : bool, default=False
        Wrap it in ``<div class="wide">``, which may scroll sideways.

    Returns
    -------
    text : str
    """
    numeric = numeric or [False] * len(columns)

    def cell(tag, text, i):
        align = ' class="num"' if numeric[i] else ""
        return f"<{tag}{align}>{html.escape(str(text))}</{tag}>"

    head = "".join(cell("th", c, i) for i, c in enumerate(columns))
    body = "".join("<tr>" + "".join(cell("td", c, i) for i, c in enumerate(row))
                   + "</tr>" for row in rows)
    inner = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="wide">{inner}</div>' if wide else inner
