"""A page template rendered once per shape and then filled in by one join: most of a digest's page (styles, layout,
the board's own links) is the same for everyone, and Jinja spends most of a render walking it again.

The template's syntax tree tells which context names only ever stand alone in an output (`{{ greeting_name }}`):
they become marks in the rendered skeleton and are escaped into it per page. A name a condition tests for truth
alone (`{% if summary %}`) joins the shape as true or its falsy value; a name used any other way (`more_count ==
1`, a filter, arithmetic) joins the shape with its value. Each new shape is rendered twice, with marks and with the
real values, and the fill of the one must equal the other; a template this reading cannot follow (a loop, a
mismatch) is rendered by Jinja from then on.
"""

from __future__ import annotations

import re
from typing import Any

from jinja2 import Template, nodes
from markupsafe import Markup, escape

MAX_SHAPES = 4_096  # shapes kept (the count of new matches is part of one): memory stays flat at any list size
_MARK = re.compile("\x00([A-Za-z_][A-Za-z0-9_]*)\x00")
NEEDS_ESCAPE = frozenset("<>&\"'")


def ascii_html(html: str) -> str:
    """HTML text in ASCII alone, every other character a numeric character reference (the same page to a reader):
    such a part goes as 7-bit, with no transfer encoding to apply. Only for rendered text outside <style> and
    <script>, where references are not read; our templates hold no non-ASCII there."""
    return html if html.isascii() else html.encode("ascii", "xmlcharrefreplace").decode("ascii")


def html_text(value: Any) -> str:
    """A value as an ASCII HTML page holds it: escaped (Markup and text with nothing to escape as they are), then
    in ASCII (`ascii_html`)."""
    if not (isinstance(value, Markup) or (type(value) is str and NEEDS_ESCAPE.isdisjoint(value))):
        value = str(escape(value))
    return value if value.isascii() else ascii_html(value)


class Skeleton:
    """`render(context)` equal to `template.render(context)`, by filling a rendered skeleton of its shape."""

    def __init__(self, template: Template, source: str, *, ascii: bool = False) -> None:
        self.template = template
        self.autoescape = bool(template.environment.autoescape)
        self.ascii = ascii  # HTML as `ascii_html` writes it: the skeleton and every value filled in
        self.printed, self.truthy, self.keyed = _read(template.environment.parse(source))
        self.broken = self.printed is None  # the template's shape is not one this reading follows
        self._shapes: dict[tuple, tuple[str, ...]] = {}

    def render(self, context: dict[str, Any]) -> str:
        if self.broken:
            return self._jinja(context)
        try:
            key = (tuple(context[n] for n in self.keyed)
                   + tuple(True if context[n] else context[n] for n in self.truthy))
            pieces = self._shapes.get(key)
        except (KeyError, TypeError):  # a name missing (Jinja says which) or a value that cannot be a key
            return self._jinja(context)
        if pieces is None:
            return self._learn(key, context)
        return self._fill(pieces, context)

    def _fill(self, pieces: tuple[str, ...], context: dict[str, Any]) -> str:
        out = list(pieces)
        for i in range(1, len(out), 2):
            value = context[out[i]]
            if self.autoescape:
                if self.ascii:
                    out[i] = html_text(value)
                else:
                    out[i] = value if isinstance(value, Markup) or (
                        type(value) is str and NEEDS_ESCAPE.isdisjoint(value)) else str(escape(value))
            else:
                out[i] = value if type(value) is str else str(value)
        return "".join(out)

    def _jinja(self, context: dict[str, Any]) -> str:
        html = self.template.render(context)
        return ascii_html(html) if self.ascii else html

    def _learn(self, key: tuple, context: dict[str, Any]) -> str:
        real = self._jinja(context)
        marked = dict(context)
        for name in self.printed:
            marked[name] = f"\x00{name}\x00"
        for name in self.truthy:
            if context[name]:
                marked[name] = f"\x00{name}\x00"
        parts = _MARK.split(self._jinja(marked))
        if any(name not in self.printed and name not in self.truthy for name in parts[1::2]):
            self.broken = True  # a mark-like text the template itself holds
            return real
        pieces = tuple(parts)
        if self._fill(pieces, context) != real:
            self.broken = True
            return real
        if len(self._shapes) >= MAX_SHAPES:
            self._shapes.clear()
        self._shapes[key] = pieces
        return real


def _read(tree: nodes.Template) -> tuple[frozenset[str] | None, tuple[str, ...], tuple[str, ...]]:
    """(names only ever output bare, names only tested for truth or output bare, names used any other way).
    None first when the template holds what a skeleton cannot stand for (loops, macros, blocks, assignments)."""
    if any(tree.find_all((nodes.For, nodes.Macro, nodes.Block, nodes.Assign, nodes.AssignBlock, nodes.CallBlock,
                          nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends, nodes.With, nodes.Scope))):
        return None, (), ()
    bare: set[str] = set()
    tested: set[str] = set()
    other: set[str] = set()
    seen: set[int] = set()
    for output in tree.find_all(nodes.Output):
        for item in output.nodes:
            if isinstance(item, nodes.Name):
                bare.add(item.name)
                seen.add(id(item))
    for branch in tree.find_all(nodes.If):
        if isinstance(branch.test, nodes.Name):
            tested.add(branch.test.name)
            seen.add(id(branch.test))
    for name in tree.find_all(nodes.Name):
        if id(name) not in seen:
            other.add(name.name)
    truthy = tuple(sorted(tested - other))
    return frozenset(bare - other - tested), truthy, tuple(sorted(other))
