"""Decoding and label normalisation of Chinese text."""
from __future__ import annotations

import pytest

from domain.chinese import decode_bytes, normalize_label


@pytest.mark.parametrize(
    ("data", "declared", "codec"),
    [
        ("政府信息公开年报".encode(), None, "utf-8"),
        ("政府信息公开年报".encode("gbk"), "gbk", "gb18030"),
        # 镕 is not in GB2312: a page labelled gb2312 must still decode (as GB18030).
        ("朱镕基 政府信息公开".encode("gb18030"), "gb2312", "gb18030"),
        ('<meta charset="gbk"><p>年度报告</p>'.encode("gbk"), None, "gb18030"),
        ("年度报告".encode("gbk"), "utf-8", "gb18030"),  # wrong declaration
    ],
)
def test_decode_never_mojibake(data: bytes, declared: str | None, codec: str) -> None:
    text, used = decode_bytes(data, declared)
    assert used == codec
    assert "年" in text or "政府" in text


def test_undecodable_bytes_are_kept_with_replacement() -> None:
    text, used = decode_bytes("年报".encode("gbk") + b"\xff\xff")
    assert text.startswith("年报") and used == "gb18030/replace"


def test_normalize_label_full_width_and_whitespace() -> None:
    assert normalize_label("（一）予以公开") == normalize_label("(一) 予以\n公开")
    assert normalize_label("本年新\n制作数量") == "本年新制作数量"
