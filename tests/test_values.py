"""Cell values: numbers, units, placeholders and what is refused as unreadable."""
import pytest

from pipelines.values import cell_record, parse_cell, to_yuan


@pytest.mark.parametrize(
    "raw, value, unit",
    [
        ("0", 0, ""), ("\u00a00", 0, ""), ("0\u00a0", 0, ""), ("１２３", 123, ""), ("1,234", 1234, ""),
        ("1，234", 1234, ""), ("12.5", 12.5, ""), ("-2", -2, ""), ("减少2", -2, ""), ("增加3", 3, ""),
        ("发包价561342.67元", 561342.67, "元"), ("627446.05元", 627446.05, "元"), ("3.5万元", 3.5, "万元"),
        ("5件", 5, ""), ("17\n8", 178, ""),
    ],
)
def test_numbers(raw, value, unit):
    parsed = parse_cell(raw)
    assert parsed.value == pytest.approx(value) and parsed.unit == unit and parsed.readable


@pytest.mark.parametrize("raw", ["", " ", "/", "／", "—", "——", "-", "无", "\u3000"])
def test_placeholders_are_null(raw):
    parsed = parse_cell(raw)
    assert parsed.value is None and parsed.readable


@pytest.mark.parametrize("raw", ["12（其中3件）", "约10或12", "见附件"])
def test_ambiguous_text_is_unreadable_not_guessed(raw):
    parsed = parse_cell(raw)
    assert parsed.value is None and not parsed.readable


def test_record_keeps_raw_and_converts_yuan():
    record = cell_record(" 发包价561342.67元")
    assert record == {"value": 561342.67, "raw": "发包价561342.67元", "unit": "元", "derived": False, "ocr": False}
    assert to_yuan(3.5, "万元") == 35000 and to_yuan(2, "") is None
    assert cell_record("7730.28", default_unit="万元")["unit"] == "万元"
    assert cell_record("12", ocr=True)["ocr"] is True
