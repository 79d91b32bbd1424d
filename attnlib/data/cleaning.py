"""Text cleaning applied before tokenisation.

20 Newsgroups posts carry their label in headers, signatures and quoted replies; we strip
them as scikit-learn's ``remove=("headers", "footers", "quotes")`` does, re-implemented
here so that no scikit-learn install is needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_HTML_TAG = re.compile(r"</?[a-z][a-z0-9]*\s*/?>", re.IGNORECASE)
_QUOTE_LINE = re.compile(
    r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)"
)


def clean_html(text: str) -> str:
    """Turn the ``<br />`` line breaks of aclImdb into newlines and drop other tags."""
    return _HTML_TAG.sub(" ", _HTML_BREAK.sub("\n", text))


def strip_newsgroup_header(text: str) -> str:
    """Drop everything up to the first blank line (the From:/Subject:/... block)."""
    _before, _blank, after = text.partition("\n\n")
    return after


def strip_newsgroup_quoting(text: str) -> str:
    """Drop quoted lines ("> ...", "In article ... writes:")."""
    return "\n".join(line for line in text.split("\n") if not _QUOTE_LINE.search(line))


def strip_newsgroup_footer(text: str) -> str:
    """Drop a signature block: everything after the last line made only of dashes."""
    lines = text.strip().split("\n")
    for line_num in range(len(lines) - 1, -1, -1):
        if lines[line_num].strip().strip("-") == "":
            break
    else:
        return text
    return "\n".join(lines[:line_num]) if line_num > 0 else text


def clean_newsgroup(text: str) -> str:
    return strip_newsgroup_footer(strip_newsgroup_quoting(strip_newsgroup_header(text)))


CLEANERS: dict[str, Callable[[str], str]] = {
    "none": lambda text: text,
    "html": clean_html,
    "newsgroups": clean_newsgroup,
}
