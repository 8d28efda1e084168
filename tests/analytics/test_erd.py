"""The ER diagram is drawn from the live models: every model, field and relation."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from django.apps import apps

from analytics import erd

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def drawing():
    return ET.fromstring(erd.render_svg())


def _boxes(root) -> dict[str, ET.Element]:
    return {g.get("data-model"): g for g in root.iter(f"{SVG}g") if g.get("class") == "erd-box"}


def _relations(root) -> set[tuple[str, str, str, str, str, str]]:
    found = set()
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "erd-relation":
            cards = [t.text for t in g.iter(f"{SVG}text")]
            found.add(
                (g.get("data-source"), g.get("data-field"), g.get("data-target"), g.get("data-kind"), *cards)
            )
    return found


def test_erd_has_a_box_for_every_model_of_the_apps(drawing):
    expected = {
        model._meta.label
        for app in ("catalog", "billing", "analytics")
        for model in apps.get_app_config(app).get_models()
    }

    assert set(_boxes(drawing)) == expected
    assert {"catalog.Track", "billing.Subscription", "analytics.ListeningEvent"} <= expected


def test_erd_boxes_list_every_field(drawing):
    for label, box in _boxes(drawing).items():
        model = apps.get_model(label)
        drawn = [t.get("data-field") for t in box.iter(f"{SVG}text") if t.get("data-field")]
        fields = [f.name for f in (*model._meta.concrete_fields, *model._meta.many_to_many)]
        assert drawn == fields, label


def test_erd_marks_keys_types_and_nullable_fields(drawing):
    track = _boxes(drawing)["catalog.Track"]
    texts = {"".join(t.itertext()) for t in track.iter(f"{SVG}text")}

    assert "id BigAuto" in texts
    assert "PK" in texts
    assert "album → catalog.Album" in texts
    assert "featured_artists → catalog.Artist" in texts
    assert "isrc? Char(12)" in texts
    assert {"FK", "M2M", "UQ"} <= texts
    plan_texts = {"".join(t.itertext()) for t in _boxes(drawing)["billing.Plan"].iter(f"{SVG}text")}
    assert "price Decimal(10,2)" in plan_texts


def test_erd_draws_every_relation_with_its_cardinality(drawing):
    relations = _relations(drawing)

    expected = set()
    for app in ("catalog", "billing", "analytics"):
        for model in apps.get_app_config(app).get_models():
            for f in (*model._meta.concrete_fields, *model._meta.many_to_many):
                if f.is_relation and f.related_model._meta.app_label in ("catalog", "billing", "analytics"):
                    expected.add((model._meta.label, f.name, f.related_model._meta.label))
    assert {r[:3] for r in relations} == expected
    assert ("catalog.Track", "album", "catalog.Album", "fk", "*", "1") in relations
    assert ("analytics.ListeningEvent", "playlist", "catalog.Playlist", "fk", "*", "0..1") in relations
    assert ("catalog.Artist", "genres", "catalog.Genre", "m2m", "*", "*") in relations


def test_erd_places_boxes_without_overlap():
    diagram = erd.describe()
    width, height = erd.layout(diagram)
    boxes = list(diagram.boxes.values())

    for i, a in enumerate(boxes):
        assert a.x > 0 and a.x + a.width <= width and a.y > 0 and a.y + a.height <= height, a.label
        for b in boxes[i + 1 :]:
            apart = (
                a.x + a.width <= b.x or b.x + b.width <= a.x or a.y + a.height <= b.y or b.y + b.height <= a.y
            )
            assert apart, (a.label, b.label)


def test_erd_puts_a_model_right_of_the_models_it_points_at():
    diagram = erd.describe()
    erd.layout(diagram)

    for relation in diagram.relations:
        source, target = diagram.boxes[relation.source], diagram.boxes[relation.target]
        if relation.source != relation.target:
            assert target.column < source.column, relation


def test_erd_can_include_the_auth_tables():
    root = ET.fromstring(erd.render_svg(erd.DEFAULT_APPS + erd.AUTH_APPS))

    assert {"auth.User", "auth.Group", "auth.Permission", "contenttypes.ContentType"} <= set(_boxes(root))
    assert ("auth.User", "groups", "auth.Group", "m2m", "*", "*") in _relations(root)


def test_erd_svg_needs_nothing_from_outside():
    page = erd.render_svg()
    standalone = erd.render_svg(standalone=True)

    assert "<style>" not in page, "the page's stylesheet colours it (no inline style under a strict CSP)"
    assert "<style>" in standalone
    for svg in (page, standalone):
        assert svg.count("http") == 1, "only the SVG namespace: no fonts, scripts or images fetched"
        assert "<script" not in svg


def test_erd_escapes_text(monkeypatch):
    monkeypatch.setattr(erd, "_type_text", lambda f: "<&>")

    root = ET.fromstring(erd.render_svg(("billing",)))

    assert "<&>" in {t.text for t in root.iter(f"{SVG}tspan")}
