"""Read the nova.conf fragments pasted into a document, each as a nova.conf of its own.

Blog posts and docs paste ``[pci]`` blocks into Markdown fences or reST
literal blocks. :func:`sniff.ini_snippets` finds them; each is read here
exactly as a nova.conf holding only that fragment would be, with lines that
are lines of the document.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pcipass.adapters import novaconf, sniff
from pcipass.core import config, configbounds, errors


def read_nova_snippets(path: str | Path) -> list[config.NovaSnippet]:
    """Read every nova.conf fragment embedded in a document, each on its own.

    A document that cannot be read has no fragments (its problem is reported
    where the document itself is read); one over a bound has none either
    (:func:`read_document` says why).
    """
    return read_document(path)[0]


def read_document(path: str | Path) -> tuple[list[config.NovaSnippet], errors.Problem | None]:
    """:func:`read_nova_snippets`, and the ``ConfigTooLarge`` problem of a document refused whole.

    A document of more than :data:`~pcipass.core.configbounds.MAX_LINES` lines, or with more
    than :data:`~pcipass.core.configbounds.MAX_FRAGMENTS` fragments, is refused before any
    fragment is read.
    """
    name = str(path)
    text, _problem = novaconf.read_text(path)
    if text is None:
        return [], None
    if configbounds.line_past(text, configbounds.MAX_LINES, configbounds.ANY_BREAK) is not None:
        return [], configbounds.too_many_lines(name, configbounds.MAX_LINES + 1)
    snippets = sniff.ini_snippets(text)
    if len(snippets) > configbounds.MAX_FRAGMENTS:
        return [], configbounds.too_many_fragments(name, snippets[configbounds.MAX_FRAGMENTS].first_line)
    out = []
    # oslo.config reads files only, so each fragment is written to a private file.
    with tempfile.TemporaryDirectory(prefix="pcipass-snippet-") as tmp:
        for i, snip in enumerate(snippets):
            tmp_path = os.path.join(tmp, f"snippet-{i}.conf")
            Path(tmp_path).write_text(snip.text, encoding="utf-8")
            item, problem = novaconf.load(tmp_path, display=name, line_offset=snip.first_line - 1)
            if item is None:
                nova = config.NovaConfig(files=[name], problems=[problem] if problem else [])
            else:
                nova = novaconf.read_loaded([item], [name])
            out.append(config.NovaSnippet(name, snip.first_line, snip.last_line, nova))
    return out, None
