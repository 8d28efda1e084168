"""The entity-relationship diagram of the live models, drawn as SVG in pure Python.

No Graphviz and no browser library: a fresh machine draws it. Every model of the
chosen apps is a box listing all its fields (primary key, foreign keys, uniques);
every foreign key, one-to-one and many-to-many field is a line from the field's row
to the box it points at, labelled with its cardinality at both ends.

Layout: a model sits one column to the right of the rightmost model it points at, so
relation lines run right to left; within a column, boxes are ordered by where their
targets are, which keeps lines from crossing more than they must. Tables without any
relation (rollups) are set in a grid below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import groupby

from django.apps import apps as django_apps
from django.db import models
from django.utils.html import escape

DEFAULT_APPS = ("catalog", "billing", "analytics")
AUTH_APPS = ("auth", "contenttypes")

ROW = 18  # height of a field row
HEADER = 28  # height of a box's title bar
PAD = 10  # inner horizontal padding of a box
CHAR = 6.8  # average width of a 12px character
GAP_X = 130  # between columns: room for the relation lines
GAP_Y = 28  # between boxes of a column
MARGIN = 24
MAX_COLUMN = 1300  # height at which a column of boxes wraps

# Colours of the standalone file; on the page `static/analytics/analytics.css` styles
# the same classes for the light and the dark theme.
_STANDALONE_STYLE = """
svg { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; }
.erd-canvas { fill: #ffffff; }
.erd-body { fill: #ffffff; stroke: #cbd5e1; }
.erd-title { fill: #ffffff; font-weight: 600; }
.erd-field { fill: #334155; } .erd-type { fill: #64748b; } .erd-key { fill: #7c3aed; font-weight: 600; }
.erd-line { fill: none; stroke: #64748b; stroke-width: 1.3; } .erd-m2m { stroke-dasharray: 5 4; }
.erd-card { fill: #0f172a; font-weight: 600; } .erd-legend { fill: #334155; }
"""
APP_COLOURS = ("#7c3aed", "#0284c7", "#d97706", "#059669", "#db2777", "#4f46e5")


@dataclass
class FieldRow:
    name: str
    type: str
    key: str = ""  # "PK", "FK", "1:1", "M2M", "UQ" or ""
    null: bool = False


@dataclass
class Relation:
    source: str  # model label, e.g. "catalog.Track"
    field: str
    target: str
    kind: str  # "fk", "o2o" or "m2m"
    source_card: str
    target_card: str


@dataclass
class Box:
    label: str
    app_label: str
    name: str
    rows: list[FieldRow]
    column: int = 0
    x: float = 0
    y: float = 0
    width: float = 0

    @property
    def height(self) -> float:
        return HEADER + ROW * len(self.rows) + 6

    def row_y(self, field_name: str) -> float:
        for index, row in enumerate(self.rows):
            if row.name == field_name:
                return self.y + HEADER + ROW * index + ROW / 2 + 1
        return self.y + HEADER / 2


@dataclass
class Diagram:
    boxes: dict[str, Box] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    app_labels: tuple[str, ...] = ()
    alone_top: float | None = None  # where the grid of tables without relations starts


def describe(app_labels: tuple[str, ...] = DEFAULT_APPS) -> Diagram:
    """Boxes and relations of every model of the apps, read from the model registry."""
    diagram = Diagram(app_labels=app_labels)
    for app_label in app_labels:
        for model in django_apps.get_app_config(app_label).get_models():
            label = model._meta.label
            rows = [_field_row(f) for f in _fields(model)]
            diagram.boxes[label] = Box(label=label, app_label=app_label, name=model.__name__, rows=rows)
            for f in _fields(model):
                if f.is_relation and f.related_model is not None:
                    diagram.relations.append(_relation(label, f))
    # Relations to models outside the diagram stay as field rows ("FK → auth.User").
    diagram.relations = [r for r in diagram.relations if r.target in diagram.boxes]
    return diagram


def _fields(model: type[models.Model]) -> list[models.Field]:
    # Concrete fields in declaration order, then many-to-many; reverse relations belong
    # to the other side and are drawn by its line.
    meta = model._meta
    return [*meta.concrete_fields, *meta.many_to_many]


def _field_row(f: models.Field) -> FieldRow:
    if f.primary_key:
        key = "PK"
    elif f.one_to_one:
        key = "1:1"
    elif f.many_to_one:
        key = "FK"
    elif f.many_to_many:
        key = "M2M"
    elif f.unique:
        key = "UQ"
    else:
        key = ""
    return FieldRow(name=f.name, type=_type_text(f), key=key, null=bool(getattr(f, "null", False)))


def _type_text(f: models.Field) -> str:
    if f.is_relation and f.related_model is not None:
        return f"→ {f.related_model._meta.label}"
    kind = f.get_internal_type().removesuffix("Field") or "Field"
    if isinstance(f, models.DecimalField):
        return f"{kind}({f.max_digits},{f.decimal_places})"
    if getattr(f, "max_length", None) and isinstance(f, models.CharField):
        return f"{kind}({f.max_length})"
    return kind


def _relation(source: str, f: models.Field) -> Relation:
    target = f.related_model._meta.label
    null = bool(getattr(f, "null", False))
    if f.many_to_many:
        return Relation(source, f.name, target, "m2m", "*", "*")
    if f.one_to_one:
        return Relation(source, f.name, target, "o2o", "0..1", "0..1" if null else "1")
    return Relation(source, f.name, target, "fk", "*", "0..1" if null else "1")


def layout(diagram: Diagram) -> tuple[float, float]:
    """Place the boxes; returns the drawing's width and height."""
    boxes = diagram.boxes
    targets: dict[str, set[str]] = {label: set() for label in boxes}
    for relation in diagram.relations:
        if relation.target != relation.source:
            targets[relation.source].add(relation.target)

    depth: dict[str, int] = {}

    def depth_of(label: str, visiting: frozenset[str] = frozenset()) -> int:
        if label not in depth:
            # A cycle of foreign keys is cut where it closes.
            reachable = [t for t in targets[label] if t not in visiting]
            depth[label] = 1 + max((depth_of(t, visiting | {label}) for t in reachable), default=-1)
        return depth[label]

    for label in boxes:
        boxes[label].column = depth_of(label)
        boxes[label].width = max(
            (len(boxes[label].name) + 4) * CHAR + 2 * PAD,
            max((len(r.name) + len(r.type) + len(r.key) + 4) * CHAR + 2 * PAD for r in boxes[label].rows),
        )

    order = {app: index for index, app in enumerate(diagram.app_labels)}
    linked = {r.source for r in diagram.relations} | {r.target for r in diagram.relations}
    columns = sorted((boxes[label] for label in boxes if label in linked), key=lambda b: b.column)
    x = MARGIN
    height = float(MARGIN + 34)  # below the legend
    for _column, members in groupby(columns, key=lambda b: b.column):
        members = list(members)

        def barycentre(box: Box) -> tuple[float, int, str]:
            placed = [
                boxes[t].y + boxes[t].height / 2 for t in targets[box.label] if boxes[t].column < box.column
            ]
            centre = sum(placed) / len(placed) if placed else float("inf")
            return centre, order.get(box.app_label, 99), box.name

        members.sort(key=barycentre)
        # A layer taller than MAX_COLUMN continues in a second column, right next to it.
        stacks: list[list[Box]] = [[]]
        used = 0.0
        for box in members:
            if stacks[-1] and used + box.height > MAX_COLUMN:
                stacks.append([])
                used = 0.0
            stacks[-1].append(box)
            used += box.height + GAP_Y
        for stack in stacks:
            width = max(box.width for box in stack)
            y = MARGIN + 34.0
            for box in stack:
                box.x, box.y, box.width = x, y, width
                y += box.height + GAP_Y
            height = max(height, y)
            x += width + GAP_X
    width = max(x - GAP_X + MARGIN, 2 * MARGIN)
    # Tables without relations (rollups, bookkeeping) fill a grid below, so they do not
    # stretch the first column to several screens.
    alone = sorted(
        (box for label, box in boxes.items() if label not in linked),
        key=lambda b: (order.get(b.app_label, 99), b.name),
    )
    diagram.alone_top = height if alone else None
    if alone:
        cell = max(box.width for box in alone)
        per_row = max(3, int((width - 2 * MARGIN + GAP_Y) // (cell + GAP_Y)))
        y = height + 30
        for start in range(0, len(alone), per_row):
            row = alone[start : start + per_row]
            for index, box in enumerate(row):
                box.column = -1
                box.x, box.y, box.width = MARGIN + index * (cell + GAP_Y), y, cell
            y += max(box.height for box in row) + GAP_Y
        height = y
        width = max(width, MARGIN + per_row * (cell + GAP_Y) - GAP_Y + MARGIN)
    return width, height + MARGIN


def render_svg(app_labels: tuple[str, ...] = DEFAULT_APPS, *, standalone: bool = False) -> str:
    """The diagram as SVG text. `standalone` embeds its colours (for the download);
    on the page the stylesheet colours it, following the light or dark theme."""
    diagram = describe(app_labels)
    width, height = layout(diagram)
    colour = {app: APP_COLOURS[index % len(APP_COLOURS)] for index, app in enumerate(app_labels)}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="erd" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-labelledby="erd-title">',
        f'<title id="erd-title">Entity-relationship diagram of {escape(", ".join(app_labels))}</title>',
    ]
    if standalone:
        parts.append(f"<style>{_STANDALONE_STYLE}</style>")
        parts.append(f'<rect class="erd-canvas" width="{width:.0f}" height="{height:.0f}"/>')
    parts.extend(_legend(app_labels, colour))
    if diagram.alone_top is not None:
        parts.append(
            f'<text class="erd-legend" x="{MARGIN}" y="{diagram.alone_top + 16:.0f}" font-weight="600">'
            "Tables without relations</text>"
        )
    incoming: dict[str, int] = {}
    for relation in diagram.relations:
        parts.extend(_relation_svg(diagram, relation, incoming))
    for box in diagram.boxes.values():
        parts.extend(_box_svg(box, colour[box.app_label]))
    parts.append("</svg>")
    return "\n".join(parts)


def _legend(app_labels: tuple[str, ...], colour: dict[str, str]) -> list[str]:
    parts = []
    x = MARGIN
    for app in app_labels:
        parts.append(f'<rect x="{x}" y="{MARGIN}" width="14" height="14" rx="3" fill="{colour[app]}"/>')
        parts.append(f'<text class="erd-legend" x="{x + 20}" y="{MARGIN + 11}">{escape(app)}</text>')
        x += 40 + len(app) * CHAR
    y = MARGIN + 7
    for css, label in (("erd-line", "foreign key, one-to-one"), ("erd-line erd-m2m", "many-to-many")):
        parts.append(f'<path class="{css}" d="M{x + 10:.0f},{y} h28"/>')
        parts.append(f'<text class="erd-legend" x="{x + 44:.0f}" y="{MARGIN + 11}">{label}</text>')
        x += 60 + len(label) * CHAR
    text = "* many   1 exactly one   0..1 at most one   ? nullable"
    parts.append(f'<text class="erd-legend" x="{x + 10:.0f}" y="{MARGIN + 11}">{escape(text)}</text>')
    return parts


def _box_svg(box: Box, colour: str) -> list[str]:
    slug = box.label.replace(".", "-").lower()
    parts = [
        f'<g class="erd-box" id="erd-{slug}" data-model="{escape(box.label)}">',
        f'<rect class="erd-body" x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" '
        f'height="{box.height:.1f}" rx="6"/>',
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.width:.1f}" height="{HEADER}" rx="6" '
        f'fill="{colour}"/>',
        # Square off the title bar's lower corners.
        f'<rect x="{box.x:.1f}" y="{box.y + HEADER - 6:.1f}" width="{box.width:.1f}" height="6" '
        f'fill="{colour}"/>',
        f'<text class="erd-title" x="{box.x + PAD:.1f}" y="{box.y + 19:.1f}">{escape(box.label)}</text>',
    ]
    for index, row in enumerate(box.rows):
        y = box.y + HEADER + ROW * index + 14
        name = row.name + ("?" if row.null and row.key != "PK" else "")
        parts.append(
            f'<text class="erd-field" x="{box.x + PAD:.1f}" y="{y:.1f}" data-field="{escape(row.name)}">'
            f"{escape(name)} "
            f'<tspan class="erd-type">{escape(row.type)}</tspan></text>'
        )
        if row.key:
            parts.append(
                f'<text class="erd-key" x="{box.x + box.width - PAD:.1f}" y="{y:.1f}" '
                f'text-anchor="end">{escape(row.key)}</text>'
            )
    parts.append("</g>")
    return parts


def _relation_svg(diagram: Diagram, relation: Relation, incoming: dict[str, int]) -> list[str]:
    source = diagram.boxes[relation.source]
    target = diagram.boxes[relation.target]
    y1 = source.row_y(relation.field)
    # Lines arriving at one box fan out along its title bar instead of meeting in a point.
    slot = incoming.get(target.label, 0)
    incoming[target.label] = slot + 1
    y2 = target.y + 8 + (slot % 4) * 4
    if target.x + target.width < source.x:  # the usual case: target to the left
        x1, x2 = source.x, target.x + target.width
        bend = max(40.0, (x1 - x2) / 2)
        path = f"M{x1:.1f},{y1:.1f} C{x1 - bend:.1f},{y1:.1f} {x2 + bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        card1, card2 = (x1 - 6, "end"), (x2 + 6, "start")
    elif target.x > source.x + source.width:  # a cut cycle: target to the right
        x1, x2 = source.x + source.width, target.x
        bend = max(40.0, (x2 - x1) / 2)
        path = f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        card1, card2 = (x1 + 6, "start"), (x2 - 6, "end")
    else:  # same column, or the model itself: loop out on the right
        x1 = source.x + source.width
        x2 = target.x + target.width
        reach = max(x1, x2) + 50 + (slot % 4) * 12
        path = f"M{x1:.1f},{y1:.1f} C{reach:.1f},{y1:.1f} {reach:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        card1, card2 = (x1 + 6, "start"), (x2 + 6, "start")
    css = "erd-line erd-m2m" if relation.kind == "m2m" else "erd-line"
    return [
        f'<g class="erd-relation" data-source="{escape(relation.source)}" '
        f'data-field="{escape(relation.field)}" data-target="{escape(relation.target)}" '
        f'data-kind="{relation.kind}">',
        f'<path class="{css}" d="{path}"/>',
        f'<text class="erd-card" x="{card1[0]:.1f}" y="{y1 - 4:.1f}" text-anchor="{card1[1]}">'
        f"{escape(relation.source_card)}</text>",
        f'<text class="erd-card" x="{card2[0]:.1f}" y="{y2 - 4:.1f}" text-anchor="{card2[1]}">'
        f"{escape(relation.target_card)}</text>",
        "</g>",
    ]
