"""ROI file formats (converters.rois): GeoJSON (QuPath), WKT, CSV, Cytomine -- parsing, bad input,
and import -> store -> export round trips within float tolerance."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import ngffstore
from converters import rois as fmt
from ngffstore import rois
from ngffstore.errors import InputError

HEIGHT = 300.0

GEOMS = [
    shapely.Polygon([(10.25, 10.5), (60.125, 12), (58, 40.75), (11, 39)]),
    shapely.Polygon(
        [(100, 100), (200, 100), (200, 200), (100, 200)],
        [[(120, 120), (140, 120), (140, 140), (120, 140)]],
    ),
    shapely.MultiPolygon([shapely.box(300, 10, 320, 30), shapely.box(330, 10, 350.333333333, 30)]),
    shapely.Point(123.456789012, 45.6),
    shapely.LineString([(1, 2), (30.5, 200.25), (35.125, 210)]),
]


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    url = str(tmp_path_factory.mktemp("fmt") / "img.zarr")
    ngffstore.write_image(np.zeros((300, 400), dtype=np.uint8), url, progress=False)
    return url


def same_geometries(a, b, tol=1e-9):
    assert len(a) == len(b)
    for g, h in zip(a, b):
        assert shapely.equals_exact(shapely.normalize(g), shapely.normalize(h), tolerance=tol), (
            g,
            h,
        )


def round_trip(image, text, format, layer, **kwargs):
    parsed = fmt.parse_rois(text, format=format, height=HEIGHT, **kwargs)
    rois.write_rois(parsed, image, layer=layer, overwrite=True)
    df = rois.read_rois(image, layer)
    info = {k: v.to_dict() for k, v in rois.read_terms(image).terms.items()}
    out = fmt.format_rois(df, format, height=HEIGHT, terms_info=info)
    again = fmt.parse_rois(out, format=format, height=HEIGHT, **kwargs)
    return parsed, df, out, again


# -- GeoJSON / QuPath ---------------------------------------------------------------------------
QUPATH = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "6b1f0e4e-0000-4000-8000-000000000001",
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[10, 10], [60, 10], [60, 40], [10, 40], [10, 10]]],
                "plane": {"c": -1, "z": 0, "t": 0},
            },
            "properties": {
                "objectType": "annotation",
                "classification": {"name": "Tumor", "color": [200, 0, 0]},
                "isLocked": False,
            },
        },
        {
            "type": "Feature",
            "id": "6b1f0e4e-0000-4000-8000-000000000002",
            "geometry": json.loads(shapely.to_geojson(GEOMS[1])),
            "properties": {
                "objectType": "annotation",
                "classification": {"names": ["Tumor", "Positive"], "color": [0, 200, 0]},
                "measurements": {"Area": 12.5},
            },
        },
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [300.25, 20.5]},
            "properties": {
                "objectType": "detection",
                "classification": {"name": "Stroma", "colorRGB": -16744448},
            },
        },
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [5, 5]},
            "properties": None,
        },
    ],
}


def test_qupath_geojson(image):
    parsed = fmt.parse_geojson(json.dumps(QUPATH))
    assert parsed.terms == [["Tumor"], ["Tumor", "Positive"], ["Stroma"], []]
    assert parsed.ids[:2] == [
        "6b1f0e4e-0000-4000-8000-000000000001",
        "6b1f0e4e-0000-4000-8000-000000000002",
    ]
    assert parsed.properties[0] == {"isLocked": False}  # objectType "annotation" is the default
    assert parsed.properties[2] == {"objectType": "detection"}
    assert parsed.terms_info["Tumor"]["color"] == "C80000"
    assert parsed.terms_info["Stroma"]["color"] == "008000"  # Java ARGB int
    assert parsed.where(2) == "features[2]"

    parsed, df, out, again = round_trip(image, json.dumps(QUPATH), "geojson", "qp")
    assert list(df["source_id"][:2]) == parsed.ids[:2]
    assert rois.read_terms(image).terms["Tumor"].color == "C80000"
    same_geometries(parsed.geometry, again.geometry, tol=0)
    assert again.terms == parsed.terms and again.properties == parsed.properties
    assert again.ids[:2] == parsed.ids[:2]
    doc = json.loads(out)
    assert doc["features"][0]["properties"]["objectType"] == "annotation"
    assert doc["features"][1]["properties"]["classification"]["names"] == ["Tumor", "Positive"]


def test_geojson_forms():
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [1, 2]},
        "properties": {"terms": ["a", "b"]},
    }
    assert fmt.parse_geojson(json.dumps([feature, feature])).terms == [
        ["a", "b"],
        ["a", "b"],
    ]  # QuPath list export
    assert len(fmt.parse_geojson(json.dumps(feature))) == 1
    bare = fmt.parse_geojson(
        json.dumps({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]})
    )
    assert bare.geometry[0].geom_type == "Polygon"
    z = fmt.parse_geojson(json.dumps({"type": "Point", "coordinates": [1, 2, 3]}))
    assert not shapely.has_z(z.geometry[0])
    term = {**feature, "properties": {"term": "x; y"}}
    assert fmt.parse_geojson(json.dumps(term)).terms == [["x", "y"]]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ('{"type": "FeatureCollection", "features": [', "invalid JSON at line 1"),
        (
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null}]}',
            r"features\[0\] has no geometry",
        ),
        (
            (
                '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}},'
                ' {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1]]]}}]}'
            ),
            r"features\[1\]: invalid geometry",
        ),
        (
            '{"type": "FeatureCollection", "features": [7]}',
            r"features\[0\] is not a GeoJSON Feature",
        ),
        ('{"hello": 1}', "not GeoJSON"),
        (
            '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}, "properties": {"terms": 5}}',
            "'terms' must be",
        ),
    ],
)
def test_bad_geojson(doc, message):
    with pytest.raises(InputError, match=message):
        fmt.parse_geojson(doc, source="in.geojson")


# -- WKT ----------------------------------------------------------------------------------------
def test_wkt_round_trip(image):
    text = "# exported\n\n" + "\n".join(shapely.to_wkt(GEOMS, rounding_precision=-1)) + "\n"
    parsed, df, _out, again = round_trip(image, text, "wkt", "w")
    assert parsed.where(0) == "line 3"
    same_geometries(GEOMS, list(df["geometry"]), tol=0)
    same_geometries(GEOMS, again.geometry, tol=0)


def test_bad_wkt():
    with pytest.raises(InputError, match=r"in\.wkt: line 3: invalid WKT: .*1 more invalid"):
        fmt.parse_wkt("POINT (1 2)\n\nPOLYGON ((0 0, 1 1\nfoo\n", source="in.wkt")


# -- CSV ----------------------------------------------------------------------------------------
def test_csv_import_and_round_trip(image):
    text = (
        "name,term,WKT,score,comment,count\n"
        '"a",tumor,"POLYGON ((10 10, 60 10, 60 40, 10 40, 10 10))",0.75,ok,\n'
        '"b","tumor; necrosis",POINT (5.5 6.25),12,,4\n'
    )
    parsed = fmt.parse_csv(text)
    assert parsed.terms == [["tumor"], ["tumor", "necrosis"]]
    assert parsed.properties == [
        {"name": "a", "score": 0.75, "comment": "ok"},
        {"name": "b", "score": 12, "count": 4},
    ]
    parsed, _df, out, again = round_trip(image, text, "csv", "c")
    assert out.splitlines()[0] == "id,terms,wkt,properties"
    same_geometries(parsed.geometry, again.geometry, tol=0)
    assert again.terms == parsed.terms and again.properties == parsed.properties
    assert again.ids == [1, 2]
    tsv = "wkt\tterms\nPOINT (1 2)\ta|b\n"
    assert fmt.parse_csv(tsv).terms == [["a", "b"]]


def test_bad_csv():
    with pytest.raises(InputError, match="no WKT column"):
        fmt.parse_csv("a,b\n1,2\n")
    with pytest.raises(InputError, match="line 3: invalid WKT"):
        fmt.parse_csv("wkt,term\nPOINT (1 2),a\nPOINT (1,b\n", source="x.csv")
    with pytest.raises(InputError, match="line 2: the properties column is not a JSON object"):
        fmt.parse_csv('wkt,properties\nPOINT (1 2),"[1]"\n')


# -- Cytomine -----------------------------------------------------------------------------------
CYTO_ONTOLOGY = {
    "class": "be.cytomine.ontology.Ontology",
    "id": 100,
    "name": "demo",
    "children": [
        {
            "id": 11,
            "name": "Tissue",
            "color": "#00ff00",
            "children": [
                {"id": 12, "name": "Tumor", "color": "#ff0000", "children": []},
            ],
        },
        {"id": 13, "name": "Stroma", "color": "#0000ff", "children": []},
    ],
}


def cytomine_doc():
    return [
        {
            "id": 5001,
            "class": "be.cytomine.ontology.UserAnnotation",
            "image": 77,
            "user": 9,
            "location": "POLYGON ((10 290, 60 290, 60 260, 10 260, 10 290))",
            "term": [12],
            "area": 1500,
        },
        {
            "id": 5002,
            "location": "POINT (300.25 279.5)",
            "term": [13, 11],
            "created": "1700000000000",
        },
        {"id": 5003, "location": "LINESTRING (1 298, 30.5 99.75)", "term": []},
    ]


def test_cytomine_origin_flip_and_terms(tmp_path):
    path = tmp_path / "onto.json"
    path.write_text(json.dumps(CYTO_ONTOLOGY))
    onto = fmt.read_ontology_file(str(path))
    assert onto["Tumor"] == {"color": "FF0000", "parent": "Tissue", "id": 12}
    parsed = fmt.parse_cytomine(json.dumps(cytomine_doc()), height=HEIGHT, ontology=onto)
    assert shapely.equals(parsed.geometry[0], shapely.box(10, 10, 60, 40))  # y' = 300 - y
    assert parsed.geometry[1].equals(shapely.Point(300.25, 20.5))
    assert list(parsed.geometry[2].coords) == [(1, 2), (30.5, 200.25)]
    assert parsed.terms == [["Tumor"], ["Stroma", "Tissue"], []]
    assert parsed.ids == [5001, 5002, 5003]
    assert parsed.properties[0] == {"cytomine_image": 77, "cytomine_user": 9}
    with pytest.raises(
        InputError, match="annotation 0: term id 12 is unknown: give the project's ontology file"
    ):
        fmt.parse_cytomine(json.dumps(cytomine_doc()), height=HEIGHT)
    with pytest.raises(InputError, match="need the image height"):
        fmt.parse_cytomine(json.dumps(cytomine_doc()), height=None)
    term_list = [
        {"id": 12, "name": "Tumor", "color": "#ff0000", "parent": 11},
        {"id": 11, "name": "Tissue"},
    ]
    assert fmt.ontology_from_json({"collection": term_list})["Tumor"]["parent"] == "Tissue"


def test_cytomine_round_trip(image, tmp_path):
    onto = fmt.ontology_from_json(CYTO_ONTOLOGY)
    text = json.dumps({"collection": cytomine_doc()})
    parsed, df, out, again_with = round_trip(image, text, "cytomine", "cy", ontology=onto)
    assert list(df["id"]) == [5001, 5002, 5003]  # Cytomine ids kept
    assert rois.read_terms(image).terms["Tumor"].parent == "Tissue"
    same_geometries(parsed.geometry, again_with.geometry, tol=1e-9)
    doc = json.loads(out)
    first = doc["collection"][0]
    assert first["id"] == 5001 and first["term"] == [12] and first["image"] == 77
    assert shapely.equals(
        shapely.from_wkt(first["location"]), shapely.from_wkt(cytomine_doc()[0]["location"])
    )
    # the export carries its terms: it re-imports without an ontology file
    again = fmt.parse_cytomine(out, height=HEIGHT)
    assert again.terms == parsed.terms and again.ids == parsed.ids
    same_geometries(parsed.geometry, again.geometry)


def test_cytomine_through_store_rejects_unknown_term(image):
    onto = fmt.ontology_from_json(CYTO_ONTOLOGY)
    text = json.dumps([{"location": "POINT (1 1)", "term": ["Necrosis"]}])
    parsed = fmt.parse_cytomine(text, height=HEIGHT, ontology=onto)
    with pytest.raises(InputError, match="annotation 0: unknown term 'Necrosis'"):
        rois.write_rois(parsed, image, layer="bad", ontology=onto)


# -- detection and properties -------------------------------------------------------------------------
def test_detect_format():
    assert fmt.detect_format("a.geojson", "") == "geojson"
    assert fmt.detect_format("a.json", '{"type": "FeatureCollection"}') == "geojson"
    assert fmt.detect_format("a.json", '[{"id": 1, "location": "POINT (1 1)"}]') == "cytomine"
    assert fmt.detect_format("a.txt", "POLYGON ((0 0, 1 0, 1 1, 0 0))\n") == "wkt"
    assert fmt.detect_format("a.csv", "") == "csv"
    with pytest.raises(InputError, match="--format"):
        fmt.detect_format("a.bin", "hello")


coord = st.floats(min_value=0, max_value=299, allow_nan=False, allow_infinity=False)


@st.composite
def polygons(draw):
    x, y = draw(coord), draw(coord)
    w = draw(st.floats(min_value=0.001, max_value=50))
    h = draw(st.floats(min_value=0.001, max_value=50))
    k = draw(st.integers(min_value=3, max_value=9))
    angles = np.sort(
        np.asarray(
            draw(st.lists(st.floats(0, 2 * np.pi - 1e-3), min_size=k, max_size=k, unique=True))
        )
    )
    ring = np.column_stack([x + w * (1 + np.cos(angles)), y + h * (1 + np.sin(angles))])
    return shapely.Polygon(ring)


@settings(max_examples=30, deadline=None)
@given(st.lists(polygons(), min_size=1, max_size=5), st.sampled_from(fmt.FORMATS))
def test_format_round_trip_property(geoms, format):
    table = {
        "id": list(range(1, len(geoms) + 1)),
        "geometry": geoms,
        "terms": [["t"]] * len(geoms),
        "properties": [{"k": i} for i in range(len(geoms))],
    }
    text = fmt.format_rois(
        table, format, height=HEIGHT, terms_info={"t": {"color": "FF0000", "id": 3}}
    )
    back = fmt.parse_rois(text, format=format, height=HEIGHT)
    for g, h in zip(geoms, back.geometry):  # WKT text keeps 16 significant digits
        assert shapely.equals_exact(g, h, tolerance=1e-9)
    if format != "wkt":
        assert back.terms == [["t"]] * len(geoms)
        assert back.properties == table["properties"]


def test_geojson_bulk_and_one_by_one_paths():
    def feature(geom):
        return {"type": "Feature", "geometry": geom, "properties": {}}

    features = [
        feature({"type": "Polygon", "coordinates": [[[0, 0, 1], [4, 0, 1], [4, 3, 1], [0, 0, 1]]]}),
        feature(
            {
                "type": "MultiPolygon",
                "coordinates": [
                    [[[0, 0], [1, 0], [1, 1], [0, 0]]],
                    [[[5, 5], [6, 5], [6, 6], [5, 5]]],
                ],
            }
        ),
        feature({"type": "LineString", "coordinates": [[0, 0], [1, 1], [2, 0]]}),
        feature({"type": "MultiPoint", "coordinates": [[0, 0], [1, 1]]}),
        feature(
            {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [3, 4]}]}
        ),
        feature({"type": "Point", "coordinates": [7.25, 8.5]}),
    ]
    parsed = fmt.parse_geojson(json.dumps({"type": "FeatureCollection", "features": features}))
    assert [g.geom_type for g in parsed.geometry] == [
        "Polygon",
        "MultiPolygon",
        "LineString",
        "MultiPoint",
        "GeometryCollection",
        "Point",
    ]
    assert not shapely.has_z(parsed.geometry).any()
    assert parsed.geometry[0].area == 6 and parsed.geometry[5].equals(shapely.Point(7.25, 8.5))
    open_ring = feature({"type": "Polygon", "coordinates": [[[0, 0], [4, 0], [4, 3], [1, 1]]]})
    doc = {"type": "FeatureCollection", "features": features[:1] * 3 + [open_ring]}
    with pytest.raises(InputError, match=r"features\[3\]: invalid geometry"):
        fmt.parse_geojson(json.dumps(doc))


def test_csv_columns_typed():
    text = "wkt,count,ratio,label,id\nPOINT (1 2),3,0.5,a,7\nPOINT (3 4),,1e-3,,8\n"
    parsed = fmt.parse_csv(text)
    assert parsed.properties[0] == {"count": 3, "ratio": 0.5, "label": "a"}
    assert parsed.properties[1] == {"ratio": 0.001}
    assert parsed.ids == [7, 8] and parsed.where(1) == "line 3"
    assert list(parsed.property_table.columns) == ["count", "ratio", "label"]
