"""Article bodies as CMS editors store them: Word's "web page" markup pasted into the editor."""
from __future__ import annotations

import html

from portal_simulator.report_tables import word_html

_P = ('<p class="MsoNormal" style="text-indent:32.0pt;line-height:28.0pt;mso-line-height-rule:exactly">'
      '<span style="font-size:16.0pt;font-family:仿宋_GB2312">{}<o:p></o:p></span></p>')
_H = ('<p class="MsoNormal" style="text-indent:32.0pt;line-height:28.0pt"><b><span style="font-size:16.0pt;'
      'font-family:黑体">{}<o:p></o:p></span></b></p>')
_TITLE = ('<p class="MsoNormal" align="center" style="text-align:center;line-height:28.0pt"><b><span '
          'style="font-size:22.0pt;font-family:方正小标宋简体">{}<o:p></o:p></span></b></p>')

_EMPTY = '<p class="MsoNormal"><span lang="EN-US"><o:p>&nbsp;</o:p></span></p>'


def word_body(blocks: list[tuple[str, object]]) -> str:
    """Render report/notice blocks the way Word-exported HTML looks inside a CMS editor."""
    out = []
    for kind, block in blocks:
        if kind == "html":  # already rendered (shared bodies of the benchmark portal)
            out.append(str(block))
        elif kind == "table":
            out.append(word_html(block))  # type: ignore[arg-type]
            out.append(_EMPTY)  # Word always ends a table with an (empty) paragraph
        else:
            out.append({"title": _TITLE, "h": _H}.get(kind, _P).format(html.escape(str(block))))
    return "\n".join(out)


def esc(text: str) -> str:
    return html.escape(text, quote=True)
