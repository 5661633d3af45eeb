"""Chinese text done right: decoding GBK/GB18030/UTF-8 without mojibake, and label normalisation.

Government portals often declare the wrong charset (``gb2312`` for pages that use characters
only GBK/GB18030 has, or no charset at all). GB18030 is a superset of GB2312 and GBK, so any
GB-family label is decoded as GB18030. Labels are compared after NFKC (full-width -> half-width)
and whitespace removal, but the original text is always what we store.
"""
from __future__ import annotations

import re
import unicodedata

_GB_FAMILY = {"gb2312", "gbk", "gb18030", "gb_2312-80", "x-gbk", "cp936", "ms936", "euc-cn", "csgb2312", "hz-gb-2312"}
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_\-]+)""", re.I)
_SPACE = re.compile(r"\s+")


def normalize_charset(name: str | None) -> str | None:
    """Canonical codec name for a declared charset; every GB-family label becomes ``gb18030``."""
    if not name:
        return None
    name = name.strip().strip("\"'").lower()
    if name in _GB_FAMILY:
        return "gb18030"
    if name in {"utf8", "utf-8"}:
        return "utf-8"
    return name


def sniff_charset(data: bytes) -> str | None:
    """The charset a document declares in its first 4 KB (``<meta charset>`` or XML prolog)."""
    head = data[:4096]
    m = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    return normalize_charset(m.group(1).decode("ascii", "ignore")) if m else None


def _try(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode ``data``; return (text, codec used).

    Order: a BOM; valid UTF-8 (a GB-encoded Chinese page is practically never valid UTF-8);
    the declared charset (HTTP header, else the document's own meta); GB18030. The last
    resort decodes GB18030 with replacement characters rather than failing, so nothing is
    dropped, and the codec name says ``gb18030/replace`` so callers can record it.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", "replace"), "utf-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace"), "utf-16"
    text = _try(data, "utf-8")
    if text is not None:
        return text, "utf-8"
    for codec in (normalize_charset(declared), sniff_charset(data), "gb18030"):
        if codec and codec != "utf-8":
            text = _try(data, codec)
            if text is not None:
                return text, codec
    return data.decode("gb18030", "replace"), "gb18030/replace"


def normalize_label(text: str) -> str:
    """A label for matching: NFKC (full-width -> half-width), no whitespace, unified quotes/dashes."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
    text = text.replace("—", "-").replace("–", "-").replace("－", "-")
    return _SPACE.sub("", text)
