"""``ngffstore.validation`` (``ngffstore.validate``): the packaged NGFF schemas, the code-level rules, real stores from other
tools, stores written by ome-zarr-py (then broken on purpose), and S3.

Data from ``../shared`` (the NGFF schema test suites and the external stores) is skipped when
absent; set ``NGFFSTORE_SHARED`` to use another copy.
"""

from __future__ import annotations

import filecmp
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import referencing.exceptions
import zarr

from ngffstore import _schemas
from ngffstore.errors import StorageAccessError, StoreNotFoundError, ValidationError
from ngffstore.validation import KINDS, Problem, ValidationReport, validate, validate_attrs

SHARED = Path(os.environ.get("NGFFSTORE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
SPECS = SHARED / "specs" / "ngff"
EXTERNAL = SHARED / "testdata" / "ngff-external"
VERSIONS = ("0.4", "0.5")
PACKAGED = Path(__file__).resolve().parents[1] / "ngffstore" / "schemas" / "ngff"

needs_specs = pytest.mark.skipif(not SPECS.is_dir(), reason=f"{SPECS} is absent")
needs_external = pytest.mark.skipif(not EXTERNAL.is_dir(), reason=f"{EXTERNAL} is absent")


def _messages(problems: list[Problem], severity: str | None = None) -> list[str]:
    return [
        f"{p.path}: {p.message}" for p in problems if severity is None or p.severity == severity
    ]


def _has(
    report: ValidationReport | list[Problem], path: str, *fragments: str, severity: str = "error"
) -> bool:
    problems = report.problems if isinstance(report, ValidationReport) else report
    return any(
        p.path == path and p.severity == severity and all(f in p.message for f in fragments)
        for p in problems
    )


# =============================================================================================
# (a) the schema layer: every upstream suite case and example
# =============================================================================================

KNOWN_SCHEMA_GAP = "well_path_has_column_before_row"  # valid:false, but JSON Schema accepts it


def _suite_cases(*, mark_schema_gap: bool = True) -> list[Any]:
    if not SPECS.is_dir():
        return []
    cases = []
    for version in VERSIONS:
        for suite_file in sorted((SPECS / version / "tests").glob("*_suite.json")):
            suite = json.loads(suite_file.read_text())
            schema = suite["schema"]["id"]
            for i, case in enumerate(suite["tests"]):
                marks = []
                if mark_schema_gap and KNOWN_SCHEMA_GAP in case.get("formerly", ""):
                    marks.append(
                        pytest.mark.xfail(
                            strict=True, reason="schema cannot check row/column order"
                        )
                    )
                cases.append(
                    pytest.param(
                        version,
                        schema,
                        case,
                        id=f"{version}-{suite_file.stem}-{i}-{case.get('formerly', '')}",
                        marks=marks,
                    )
                )
    return cases


def _read_example(path: Path) -> Any:
    """An example document; two upstream files hold ``//`` comment lines."""
    lines = [ln for ln in path.read_text().splitlines() if not ln.lstrip().startswith("//")]
    return json.loads("\n".join(lines))


def _example_cases() -> list[Any]:
    if not SPECS.is_dir():
        return []
    cases = []
    for version in VERSIONS:
        for config in sorted((SPECS / version / "examples").glob("*/.config.json")):
            schema = json.loads(config.read_text())["schema"]
            for example in sorted(config.parent.glob("*.json")):
                if example.name != ".config.json":
                    cases.append(
                        pytest.param(
                            version,
                            schema,
                            example,
                            id=f"{version}-{config.parent.name}-{example.stem}",
                        )
                    )
    return cases


@needs_specs
@pytest.mark.parametrize("version", VERSIONS)
def test_packaged_schemas_are_unmodified_copies(version: str) -> None:
    spec_dir, packaged = SPECS / version / "schemas", PACKAGED / version
    names = sorted(p.name for p in spec_dir.glob("*.schema"))
    assert names == sorted(p.name for p in packaged.glob("*.schema"))
    match, mismatch, errors = filecmp.cmpfiles(spec_dir, packaged, names, shallow=False)
    assert match == names and not mismatch and not errors
    assert set(_schemas.schema_documents(version)) == {n[: -len(".schema")] for n in names}


def test_packaged_notice() -> None:
    text = (PACKAGED / "NOTICE.md").read_text()
    assert "W3C® Software and Document License" in text and "github.com/ome/ngff-spec" in text


def test_one_registry_per_version() -> None:
    latest = "https://ngff.openmicroscopy.org/latest/schemas/bf2raw.schema"
    reg04, reg05 = _schemas.registry("0.4"), _schemas.registry("0.5")
    assert reg04[latest].contents["properties"]["bioformats2raw.layout"]["enum"] == [3]
    with pytest.raises(referencing.exceptions.NoSuchResource):  # not in the 0.5 registry
        reg05[latest]
    assert "https://ngff.openmicroscopy.org/0.5/schemas/_version.schema" in list(reg05)
    assert _schemas.validator("0.4", "schemas/image.schema") is _schemas.validator("0.4", "image")
    with pytest.raises(ValueError):
        _schemas.schema_documents("0.3")


@needs_specs
@pytest.mark.parametrize(("version", "schema", "case"), _suite_cases())
def test_schema_suite(version: str, schema: str, case: dict[str, Any]) -> None:
    errors = _schemas.schema_errors(case["data"], version, schema)
    assert (not errors) == case["valid"], [_schemas.describe(e) for e in errors]


def _suite_case(version: str, suite: str, formerly: str) -> dict[str, Any]:
    data = json.loads((SPECS / version / "tests" / f"{suite}_suite.json").read_text())
    return next(t for t in data["tests"] if t.get("formerly", "").endswith(formerly))


@needs_specs
def test_code_check_catches_column_before_row() -> None:
    case = _suite_case("0.5", "plate", KNOWN_SCHEMA_GAP)
    assert _schemas.is_valid(case["data"], "0.5", "plate")  # the schema gap itself
    problems = validate_attrs(case["data"], "plate", "0.5")
    assert _has(problems, "/", "'1/A'", "expected 'A/1'"), _messages(problems)


# Cases the schemas accept but the spec's prose forbids, which the code checks catch:
# the 0.4 plate suite's valid cases put the column name before the row name (upstream swapped
# rows and columns in 0.5), and a 0.4 image has 2 scale values for 3 axes.
CODE_STRICTER = {
    ("0.4", "image", "valid/mismatch_axes_units.json"): "scale has 2 values but there are 3 axes",
    ("0.4", "plate", "plate/minimal_no_acquisitions"): "does not match its row",
    ("0.4", "plate", "plate/minimal_acquisitions"): "does not match its row",
    ("0.4", "plate", "plate/non_alphanumeric_row"): "does not match its row",
    ("0.4", "plate", "plate/strict_no_acquisitions"): "does not match its row",
    ("0.4", "plate", "plate/strict_acquisitions"): "does not match its row",
}


@needs_specs
@pytest.mark.parametrize(("version", "schema", "case"), _suite_cases(mark_schema_gap=False))
def test_validate_attrs_agrees_with_suite(version: str, schema: str, case: dict[str, Any]) -> None:
    """Schema + code checks give every suite verdict, the schema gap included."""
    name = schema.rsplit("/", 1)[-1].removesuffix(".schema")
    kind = name.removeprefix("strict_")
    problems = validate_attrs(case["data"], kind, version, strict=name.startswith("strict_"))
    errors = _messages(problems, "error")
    key = (version, kind, case.get("formerly", ""))
    if key in CODE_STRICTER:
        assert case["valid"] and errors and all(CODE_STRICTER[key] in e for e in errors)
    else:
        assert (not errors) == case["valid"], errors


@needs_specs
@pytest.mark.parametrize(("version", "schema", "example"), _example_cases())
def test_examples_validate(version: str, schema: str, example: Path) -> None:
    doc = _read_example(example)
    attrs = doc["attributes"] if version == "0.5" else doc
    errors = _schemas.schema_errors(attrs, version, schema)
    assert not errors, [_schemas.describe(e) for e in errors]
    kind = schema.rsplit("/", 1)[-1].removesuffix(".schema").removeprefix("strict_")
    assert not _messages(validate_attrs(attrs, kind, version, strict=True), "error")


# -- code-level rules on attribute documents --------------------------------------------------


def _image_attrs(
    axes: list[dict[str, Any]], scales: list[list[float]], version: str = "0.5", **extra: Any
) -> dict[str, Any]:
    ms: dict[str, Any] = {
        "axes": axes,
        "datasets": [
            {"path": str(i), "coordinateTransformations": [{"type": "scale", "scale": s}]}
            for i, s in enumerate(scales)
        ],
    }
    if version == "0.4":
        return {"multiscales": [{"version": "0.4", **ms}], **extra}
    return {"ome": {"version": "0.5", "multiscales": [ms], **extra}}


C = {"name": "c", "type": "channel"}
T = {"name": "t", "type": "time", "unit": "second"}
Z = {"name": "z", "type": "space", "unit": "micrometer"}
Y = {"name": "y", "type": "space", "unit": "micrometer"}
X = {"name": "x", "type": "space", "unit": "micrometer"}


@pytest.mark.parametrize("version", VERSIONS)
def test_validate_attrs_axes_rules(version: str) -> None:
    assert validate_attrs(_image_attrs([T, C, Z, Y, X], [[1] * 5], version), "image", version) == []
    wrong_order = validate_attrs(_image_attrs([C, T, Y, X], [[1] * 4], version), "image", version)
    assert _has(wrong_order, "/", "axes must be ordered time, then channel")
    space_first = validate_attrs(_image_attrs([Y, X, C], [[1] * 3], version), "image", version)
    assert _has(space_first, "/", "axes must be ordered")
    two_channels = validate_attrs(
        _image_attrs([C, dict(C, name="d"), Y, X], [[1] * 4], version), "image", version
    )
    assert _has(two_channels, "/", "at most one axis of type 'channel'")
    one_space = validate_attrs(_image_attrs([C, X], [[1, 1]], version), "image", version)
    assert _has(one_space, "/", "2 or 3 axes of type 'space'")
    same_name = validate_attrs(
        _image_attrs([dict(Y, name="x"), X], [[1, 1]], version), "image", version
    )
    assert _has(same_name, "/", "axis names must be unique")


@pytest.mark.parametrize("version", VERSIONS)
def test_validate_attrs_units_are_should_level(version: str) -> None:
    attrs = _image_attrs(
        [dict(T, unit="micrometer"), dict(Y, unit="micron"), X], [[1] * 3], version
    )
    lenient = validate_attrs(attrs, "image", version)
    assert _has(lenient, "/", "'micron'", "not an NGFF space unit", severity="warning")
    assert _has(lenient, "/", "'micrometer' of time axis", severity="warning")
    assert not _messages(lenient, "error")
    strict = validate_attrs(attrs, "image", version, strict=True)
    assert _has(strict, "/", "'micron'", severity="error")


@pytest.mark.parametrize("version", VERSIONS)
def test_validate_attrs_transformations(version: str) -> None:
    short = validate_attrs(_image_attrs([Y, X], [[1, 1], [2]], version), "image", version)
    assert _has(short, "/", "scale has 1 values but there are 2 axes")
    decreasing = validate_attrs(_image_attrs([Y, X], [[2, 2], [1, 2]], version), "image", version)
    assert _has(decreasing, "/", "scale decreases from level 0 to level 1", "y 2 -> 1")
    attrs = _image_attrs([Y, X], [[1, 1]], version)
    block = attrs["ome"] if version == "0.5" else attrs
    block["multiscales"][0]["datasets"][0]["coordinateTransformations"] = [
        {"type": "translation", "translation": [0, 0]},
        {"type": "scale", "scale": [1, 1]},
    ]
    assert _has(validate_attrs(attrs, "image", version), "/", "exactly one 'scale'")


@pytest.mark.parametrize("version", VERSIONS)
def test_validate_attrs_label_values(version: str) -> None:
    label = {
        "colors": [
            {"label-value": 1, "rgba": [255, 0, 0, 255]},
            {"label-value": 1.5, "rgba": [0, 255, 0, 255]},
            {"label-value": 1, "rgba": [0, 0, 255, 255]},
        ],
        "properties": [{"label-value": 2}, {"label-value": 2}],
    }
    attrs: dict[str, Any]
    if version == "0.4":
        attrs = {"image-label": {"version": "0.4", **label}}
    else:
        attrs = {"ome": {"version": "0.5", "image-label": label}}
    problems = validate_attrs(attrs, "label", version)
    assert _has(problems, "/", "colors[1].label-value 1.5 is not an integer")
    assert _has(problems, "/", "image-label.colors: label-value 1 appears more than once")
    assert _has(problems, "/", "image-label.properties: label-value 2 appears more than once")


def test_validate_attrs_plate_indices_and_labels_list() -> None:
    plate = {
        "ome": {
            "version": "0.5",
            "plate": {
                "rows": [{"name": "A"}],
                "columns": [{"name": "1"}, {"name": "2"}],
                "wells": [
                    {"path": "A/1", "rowIndex": 0, "columnIndex": 0},
                    {"path": "A/2", "rowIndex": 0, "columnIndex": 0},
                    {"path": "A/2", "rowIndex": 3, "columnIndex": 1},
                ],
            },
        }
    }
    problems = validate_attrs(plate, "plate", "0.5")
    assert _has(problems, "/", "plate.wells[1]", "expected 'A/1'")
    assert _has(problems, "/", "plate.wells[2]", "listed more than once")
    labels = validate_attrs({"labels": ["a", "a", "../escape", 3]}, "labels", "0.4")
    assert _has(labels, "/", "'a' is listed more than once")
    assert _has(labels, "/", "'../escape' is not a relative path")
    assert _has(labels, "/", "3 is not a relative path")


def test_validate_attrs_unsupported_and_bad_input() -> None:
    problems = validate_attrs({"ome": {"version": "0.6.dev"}}, "image", "0.6.dev")
    assert len(problems) == 1 and "not supported" in problems[0].message
    with pytest.raises(ValueError):
        validate_attrs({}, "nonsense", "0.5")
    not_an_object: Any = [1, 2]
    assert _has(validate_attrs(not_an_object, "image", "0.4"), "/", "must be a JSON object")
    assert set(KINDS) == {"image", "label", "labels", "plate", "well", "bf2raw", "ome"}


MALFORMED: list[Any] = [
    {"multiscales": "nope"},
    {"multiscales": [None, 3, "x"]},
    {"multiscales": [{"axes": "yx", "datasets": [{"path": 0}]}]},
    {
        "multiscales": [
            {"axes": [{"name": 1}, None], "datasets": [None, {"coordinateTransformations": "s"}]}
        ]
    },
    {
        "multiscales": [
            {
                "axes": [Y, X],
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [
                            {"type": "scale", "scale": ["a", None]},
                            {"type": "translation"},
                            None,
                        ],
                    }
                ],
            }
        ]
    },
    {
        "multiscales": [
            {
                "axes": [Y, X],
                "datasets": [
                    {
                        "path": "/abs",
                        "coordinateTransformations": [{"type": "scale", "scale": [0, -1]}],
                    }
                ],
            }
        ],
        "omero": {"channels": "many"},
    },
    {"multiscales": [], "image-label": {"colors": [{"label-value": "one"}, None], "properties": 3}},
    {
        "plate": {
            "rows": "A",
            "columns": [None],
            "wells": [{"path": 5}, None, {"path": "A/1", "rowIndex": -1}],
        }
    },
    {"well": {"images": [{"path": None}, "0", {"path": "../x", "acquisition": "a"}]}},
    {"labels": {"a": 1}},
    {"bioformats2raw.layout": "3"},
    {"series": "0"},
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("block", MALFORMED)
def test_malformed_attrs_give_problems_not_exceptions(version: str, block: dict[str, Any]) -> None:
    attrs = {"ome": {"version": "0.5", **block}} if version == "0.5" else block
    for kind in KINDS:
        problems = validate_attrs(attrs, kind, version)
        assert all(isinstance(p, Problem) for p in problems)
    assert any(
        p.severity == "error" for kind in KINDS for p in validate_attrs(attrs, kind, version)
    )


# =============================================================================================
# (b) real stores written by other tools
# =============================================================================================


@needs_external
@pytest.mark.parametrize("name", ["simple_0.4", "simple_0.5"])
def test_neuroglancer_simple_is_valid(name: str) -> None:
    report = validate(EXTERNAL / "neuroglancer" / name)
    assert report.ok and report.problems == [], str(report)
    assert report.nodes == {"/": f"image {name[-3:]}"}


@needs_external
def test_fractal_plate_only_string_windows_fail() -> None:
    report = validate(EXTERNAL / "fractal-tasks-core" / "plate_ones.zarr")
    assert not report.ok
    assert report.nodes == {"/": "plate 0.4", "/B/03": "well 0.4", "/B/03/0": "image 0.4"}
    assert {p.path for p in report.problems} == {"/B/03/0"}
    for problem in report.problems:
        assert problem.severity == "error"
        assert "image.schema" in problem.message and "omero.channels" in problem.message
        assert ".window." in problem.message and "is not of type 'number'" in problem.message


@needs_external
@pytest.mark.parametrize("name", ["blobs_image_v04.ome.zarr", "blobs_image_v05.ome.zarr"])
def test_viv_spatialdata_versions_are_unsupported(name: str) -> None:
    report = validate(EXTERNAL / "viv" / "ome-zarr" / name)
    assert len(report.problems) == 1, str(report)
    problem = report.problems[0]
    assert problem.path == "/" and problem.severity == "error"
    assert "-dev-spatialdata' is not supported" in problem.message


@needs_external
def test_viv_legacy_bioformats2raw() -> None:
    report = validate(EXTERNAL / "viv" / "bioformats-zarr" / "data.zarr")
    assert _has(report, "/", "bf2raw.schema", "bioformats2raw.layout")
    assert _has(report, "/0", "'0.1' is not supported")


def _ngio_images() -> list[str]:
    folder = EXTERNAL / "ngio" / "v04" / "images"
    return sorted(p.name for p in folder.glob("*.zarr")) if folder.is_dir() else []


@needs_external
@pytest.mark.parametrize("name", _ngio_images())
def test_ngio_metadata_only_images_are_valid(name: str) -> None:
    report = validate(EXTERNAL / "ngio" / "v04" / "images" / name)
    assert report.ok, str(report)
    assert report.nodes["/"] == "image 0.4" and report.nodes["/labels/label"] == "label 0.4"
    # the only findings are SHOULD-level: ngio writes the time unit "seconds"
    assert all("'seconds'" in p.message and p.severity == "warning" for p in report.problems)


BROKEN_KINDS = {
    "missing dataset": ("/A/1/0", "'0': the dataset (level 0) does not exist"),
    "well that is an array": ("/A/2", "is a Zarr array, but a well must be a Zarr group"),
    "wrong ndim": ("/B/1/0", "the array has 5 dimensions", "3 axes"),
    "dataset that is a group": ("/B/2/0", "is a Zarr group, not an array"),
    "field that is an array": ("/B/3/1", "is a Zarr array, but an image must be a Zarr group"),
    "missing field": ("/C/1/1", "does not exist, but it should be an image"),
    "empty multiscales": ("/C/2/0", "ome.multiscales: [] should be non-empty"),
    "empty well ome": ("/C/3", "not an OME-NGFF node", "should be a well"),
    "missing label": (
        "/A/1/0/labels/annotations",
        "does not exist, but it should be a label image",
    ),
    "label that is an array": ("/A/1/1/labels/annotations", "is a Zarr array, but a label image"),
    "empty label ome": ("/A/3/0/labels/annotations", "not an OME-NGFF node", "label image"),
    "float label": ("/B/1/0/labels/annotations", "label data type float32 is not an integer type"),
    "labels group that is an array": ("/B/3/0/labels", "is a Zarr array, but a labels group"),
}


@needs_external
def test_yaozarrs_broken_plate() -> None:
    report = validate(EXTERNAL / "yaozarrs" / "broken" / "broken_v05.ome.zarr")
    assert not report.ok
    missing = [
        kind
        for kind, (path, *fragments) in BROKEN_KINDS.items()
        if not _has(report, path, *fragments)
    ]
    assert not missing, f"not found: {missing}\n{report}"
    # the 14th kind: wrong names in the array *attributes* (the real dimension_names are right)
    assert _has(report, "/B/2/1", "array attribute 'dimension_names'", severity="warning")
    # nothing else is reported as an error
    assert len(report.errors) == 15, str(report)


@needs_external
def test_yaozarrs_real_metadata_only_stores() -> None:
    labels = validate(EXTERNAL / "yaozarrs" / "v05" / "6001240_labels.zarr")
    assert _has(labels, "/labels", "no 'ome.version'", severity="warning")
    assert _has(labels, "/labels/0", "the label image has 4 levels, but its image has 3")
    no_zgroup = validate(EXTERNAL / "yaozarrs" / "v04" / "4007801.zarr")
    assert _has(no_zgroup, "/", "has .zattrs but no .zgroup")
    assert no_zgroup.nodes == {"/": "image 0.4"}


# =============================================================================================
# (c) stores written by ome-zarr-py, then broken
# =============================================================================================

UNITS = {"z": "micrometer", "y": "micrometer", "x": "micrometer"}


def _write_ome_zarr_image(path: Path, version: str, *, labels: bool = True) -> Path:
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image, write_labels

    fmt = FormatV04() if version == "0.4" else FormatV05()
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    data = np.arange(2 * 3 * 40 * 30, dtype=np.uint16).reshape(2, 3, 40, 30)
    write_image(
        data,
        group,
        axes="czyx",
        fmt=fmt,
        scale_factors=(2, 4),
        scale={"c": 1.0, "z": 2.0, "y": 0.5, "x": 0.5},
        axes_units=UNITS,
    )
    if labels:
        label = (np.arange(3 * 40 * 30).reshape(3, 40, 30) % 4).astype(np.uint32)
        write_labels(
            label,
            group,
            name="cells",
            axes="zyx",
            fmt=fmt,
            scaler=None,
            scale_factors=(2, 4),
            scale={"z": 2.0, "y": 0.5, "x": 0.5},
            axes_units=UNITS,
            label_metadata={
                "colors": [{"label-value": v, "rgba": [v * 60, 0, 0, 255]} for v in range(4)]
            },
        )
    return path


def _attrs_file(node: Path) -> Path:
    return node / "zarr.json" if (node / "zarr.json").exists() else node / ".zattrs"


def _edit_attrs(node: Path, edit: Any) -> None:
    """Apply ``edit(block)`` to the NGFF block of a group (``ome`` in 0.5) and write it back."""
    file = _attrs_file(node)
    doc = json.loads(file.read_text())
    attrs = doc["attributes"] if file.name == "zarr.json" else doc
    edit(attrs.get("ome", attrs))
    file.write_text(json.dumps(doc))


def _datasets(block: dict[str, Any]) -> list[dict[str, Any]]:
    return block["multiscales"][0]["datasets"]


@pytest.fixture(params=VERSIONS)
def ome_zarr_image(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str]:
    version = request.param
    return _write_ome_zarr_image(tmp_path / f"image_{version}.ome.zarr", version), version


def test_ome_zarr_image_is_valid(ome_zarr_image: tuple[Path, str]) -> None:
    path, version = ome_zarr_image
    report = validate(path)
    assert report.ok, str(report)
    assert report.nodes == {
        "/": f"image {version}",
        "/labels": f"labels {version}",
        "/labels/cells": f"label {version}",
    }
    assert not _messages(report.problems, "error")
    # ome-zarr-py 0.18 writes the 0.5 labels group without "version" (no schema covers it)
    assert all("no 'ome.version' in the labels group" in m for m in _messages(report.problems))
    assert validate(str(path) + "/labels/cells").ok and validate(path / "labels").ok


def test_missing_level_is_found(ome_zarr_image: tuple[Path, str]) -> None:
    path, _ = ome_zarr_image
    shutil.rmtree(path / "s2")
    report = validate(path)
    assert _has(report, "/", "datasets[2] 's2': the dataset (level 2) does not exist"), str(report)
    assert len(report.errors) == 1


def test_changed_scale_is_found(ome_zarr_image: tuple[Path, str]) -> None:
    path, _ = ome_zarr_image

    def edit(block: dict[str, Any]) -> None:
        _datasets(block)[1]["coordinateTransformations"][0]["scale"][2] = 1.5  # y: 1.0 -> 1.5

    _edit_attrs(path, edit)
    report = validate(path)
    assert _has(
        report,
        "/",
        "datasets[1] 's1'",
        "does not match the scale",
        "axis 'y' has 20 pixels, expected 13 or 14",
    ), str(report)
    assert _has(
        report,
        "/labels/cells",
        "label scale differs from the image's",
        "y 1 vs 1.5",
        severity="warning",
    )


def test_decreasing_scale_is_found(ome_zarr_image: tuple[Path, str]) -> None:
    path, _ = ome_zarr_image

    def edit(block: dict[str, Any]) -> None:
        _datasets(block)[2]["coordinateTransformations"][0]["scale"][3] = 0.25

    _edit_attrs(path, edit)
    report = validate(path)
    assert _has(report, "/", "scale decreases from level 1 to level 2", "x 1 -> 0.25"), str(report)


def test_bad_unit_is_found(ome_zarr_image: tuple[Path, str]) -> None:
    path, _ = ome_zarr_image

    def edit(block: dict[str, Any]) -> None:
        block["multiscales"][0]["axes"][3]["unit"] = "microns"

    _edit_attrs(path, edit)
    report = validate(path)
    assert report.ok  # a SHOULD-level rule
    assert _has(report, "/", "unit 'microns' of space axis 'x'", severity="warning")
    assert _has(validate(path, strict=True), "/", "unit 'microns' of space axis 'x'")


def test_omero_channel_count_is_checked(ome_zarr_image: tuple[Path, str]) -> None:
    path, _ = ome_zarr_image
    window = {"start": 0, "end": 100, "min": 0, "max": 65535}
    channels = [{"label": f"ch{i}", "color": "FF0000", "window": window} for i in range(3)]

    _edit_attrs(path, lambda block: block.update(omero={"channels": channels[:2]}))
    assert validate(path).ok
    _edit_attrs(path, lambda block: block.update(omero={"channels": channels}))
    assert _has(validate(path), "/", "3 channels, but the channel axis 'c' has size 2")


def test_05_metadata_in_a_v2_group(tmp_path: Path) -> None:
    path = _write_ome_zarr_image(tmp_path / "v2.ome.zarr", "0.4", labels=False)
    attrs = json.loads((path / ".zattrs").read_text())
    multiscale = attrs["multiscales"][0]
    del multiscale["version"]
    (path / ".zattrs").write_text(
        json.dumps({"ome": {"version": "0.5", "multiscales": [multiscale]}})
    )
    report = validate(path)
    assert _has(report, "/", "NGFF 0.5 metadata in a Zarr v2 group"), str(report)
    assert report.errors == [p for p in report.problems if "Zarr v2 group" in p.message]


def test_04_metadata_in_a_v3_group(tmp_path: Path) -> None:
    path = _write_ome_zarr_image(tmp_path / "v3.ome.zarr", "0.5", labels=False)
    doc = json.loads((path / "zarr.json").read_text())
    ome = doc["attributes"].pop("ome")
    doc["attributes"]["multiscales"] = [{"version": "0.4", **ome["multiscales"][0]}]
    (path / "zarr.json").write_text(json.dumps(doc))
    assert _has(validate(path), "/", "NGFF 0.4 metadata in a Zarr v3 group")


def test_array_metadata_rules_v3(tmp_path: Path) -> None:
    path = _write_ome_zarr_image(tmp_path / "img.ome.zarr", "0.5")
    meta_file = path / "s1" / "zarr.json"
    meta = json.loads(meta_file.read_text())
    meta["dimension_names"] = ["c", "z", "x", "y"]
    meta_file.write_text(json.dumps(meta))
    label_file = path / "labels" / "cells" / "s0" / "zarr.json"
    label_meta = json.loads(label_file.read_text())
    label_meta["data_type"] = "float32"
    label_meta["fill_value"] = 0.0
    label_file.write_text(json.dumps(label_meta))
    report = validate(path)
    assert _has(report, "/", "'s1': the array's dimension_names ['c', 'z', 'x', 'y'] differ"), str(
        report
    )
    assert _has(report, "/labels/cells", "label data type float32 is not an integer type")
    assert _has(
        report, "/labels/cells", "the levels have different data types: s0: float32, s1: uint32"
    )


def test_wrong_number_of_axes(ome_zarr_image: tuple[Path, str]) -> None:
    path, _ = ome_zarr_image

    def edit(block: dict[str, Any]) -> None:
        ms = block["multiscales"][0]
        ms["axes"] = ms["axes"][1:]
        for ds in ms["datasets"]:
            for t in ds["coordinateTransformations"]:
                t[t["type"]] = t[t["type"]][1:]

    _edit_attrs(path, edit)
    report = validate(path)
    assert _has(
        report, "/", "'s0': the array has 4 dimensions (shape [2, 3, 40, 30])", "3 axes (z,y,x)"
    )


def test_label_levels_must_match_the_image(ome_zarr_image: tuple[Path, str]) -> None:
    path, _ = ome_zarr_image
    _edit_attrs(path / "labels" / "cells", lambda block: _datasets(block).pop())
    assert _has(
        validate(path), "/labels/cells", "the label image has 2 levels, but its image has 3"
    )


def test_label_names_must_exist(ome_zarr_image: tuple[Path, str]) -> None:
    path, _ = ome_zarr_image
    _edit_attrs(path / "labels", lambda block: block.update(labels=["cells", "nuclei"]))
    report = validate(path)
    assert _has(report, "/labels/nuclei", "does not exist, but it should be a label image")


@pytest.mark.parametrize("version", ["0.6.dev", "0.4-dev-spatialdata", "1.0"])
def test_unknown_version_is_one_problem(tmp_path: Path, version: str) -> None:
    path = _write_ome_zarr_image(tmp_path / "img.ome.zarr", "0.5")
    _edit_attrs(path, lambda block: block.update(version=version))
    report = validate(path)
    assert (
        len(report.problems) == 1 and f"{version!r} is not supported" in report.problems[0].message
    )


def _write_plate(path: Path, version: str) -> Path:
    from ome_zarr.format import FormatV04, FormatV05
    from ome_zarr.writer import write_image, write_plate_metadata, write_well_metadata

    fmt = FormatV04() if version == "0.4" else FormatV05()
    root = zarr.open_group(str(path), mode="w", zarr_format=fmt.zarr_format)
    wells = ["A/1", "A/2", "B/2"]
    write_plate_metadata(
        root,
        ["A", "B"],
        ["1", "2"],
        wells,
        fmt=fmt,
        field_count=2,
        acquisitions=[{"id": 0, "name": "run"}],
        name="plate",
    )
    data = np.zeros((2, 16, 16), dtype=np.uint8)
    for well in wells:
        row, col = well.split("/")
        well_group = root.require_group(row).require_group(col)
        write_well_metadata(
            well_group, [{"path": "0", "acquisition": 0}, {"path": "1", "acquisition": 0}], fmt=fmt
        )
        for field in ("0", "1"):
            write_image(
                data,
                well_group.require_group(field),
                axes="cyx",
                fmt=fmt,
                scale_factors=(2,),
                scale={"c": 1.0, "y": 0.5, "x": 0.5},
                axes_units={"y": "micrometer", "x": "micrometer"},
            )
    return path


@pytest.mark.parametrize("version", VERSIONS)
def test_ome_zarr_plate(tmp_path: Path, version: str) -> None:
    path = _write_plate(tmp_path / "plate.ome.zarr", version)
    report = validate(path)
    assert report.ok and not report.problems, str(report)
    assert report.nodes["/"] == f"plate {version}" and report.nodes["/B/2/1"] == f"image {version}"
    assert len(report.nodes) == 1 + 3 + 6

    def swap(block: dict[str, Any]) -> None:
        block["plate"]["wells"][2]["path"] = "2/B"

    _edit_attrs(path, swap)
    shutil.rmtree(path / "A" / "2" / "1")
    report = validate(path)
    assert _has(report, "/", "plate.wells[2]: path '2/B'", "expected 'B/2'")
    assert _has(report, "/2/B", "does not exist, but it should be a well")
    assert _has(report, "/A/2/1", "does not exist, but it should be an image")
    _edit_attrs(
        path / "A" / "1", lambda b: b["well"]["images"].append({"path": "2", "acquisition": 7})
    )
    report = validate(path)
    assert _has(report, "/A/1", "3 fields, more than the plate's field_count 2")
    assert _has(report, "/A/1", "acquisition 7, which the plate does not list")


@pytest.mark.parametrize("version", VERSIONS)
def test_bioformats2raw_container(tmp_path: Path, version: str) -> None:
    path = tmp_path / "bf2raw.ome.zarr"
    root = zarr.open_group(str(path), mode="w", zarr_format=2 if version == "0.4" else 3)
    layout = {"bioformats2raw.layout": 3}
    root.attrs.update(layout if version == "0.4" else {"ome": {"version": "0.5", **layout}})
    for series in ("0", "1"):
        _write_ome_zarr_image(path / series, version, labels=False)
    report = validate(path)
    assert report.ok and not report.problems, str(report)
    assert report.nodes == {
        "/": f"bf2raw {version}",
        "/0": f"image {version}",
        "/1": f"image {version}",
    }

    ome = zarr.open_group(str(path / "OME"), mode="w", zarr_format=root.metadata.zarr_format)
    assert validate(path).nodes.keys() == {"/", "/0", "/1"}  # an OME group without series is fine
    ome.attrs.update(
        {"series": ["1"]} if version == "0.4" else {"ome": {"version": "0.5", "series": ["1"]}}
    )
    report = validate(path)
    assert report.ok and report.nodes.keys() == {"/", "/OME", "/1"}, str(report)
    ome.attrs.update(
        {"series": ["0", "2"]}
        if version == "0.4"
        else {"ome": {"version": "0.5", "series": ["0", "2"]}}
    )
    assert _has(validate(path), "/2", "does not exist, but it should be an image")
    root.attrs.update(
        {"bioformats2raw.layout": 1}
        if version == "0.4"
        else {"ome": {"version": "0.5", "bioformats2raw.layout": 1}}
    )
    assert _has(validate(path), "/", "bf2raw.schema", "1 is not one of [3]")


def test_not_ngff_and_not_found(tmp_path: Path) -> None:
    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w").attrs["something"] = 1
    report = validate(tmp_path / "plain.zarr")
    assert [p.message for p in report.problems] == [
        "not an OME-NGFF node: the group attributes hold no OME-NGFF metadata"
    ]
    (tmp_path / "folder").mkdir()
    assert "not an OME-NGFF node" in validate(tmp_path / "folder").problems[0].message
    zarr.create_array(str(tmp_path / "array.zarr"), shape=(2, 2), dtype="u1")
    assert _has(validate(tmp_path / "array.zarr"), "/", "is a Zarr array")
    with pytest.raises(StoreNotFoundError):
        validate(tmp_path / "does-not-exist.zarr")
    with pytest.raises(StoreNotFoundError):
        validate("memory://ngffstore-validate-test/nothing/here")


@pytest.mark.parametrize("block", MALFORMED)
def test_malformed_store_metadata_never_raises(tmp_path: Path, block: dict[str, Any]) -> None:
    path = tmp_path / "bad.zarr"
    zarr.open_group(str(path), mode="w", zarr_format=3).attrs.update(
        {"ome": {"version": "0.5", **block}}
    )
    zarr.open_group(str(path / "0"), mode="w", zarr_format=3).attrs.update(
        {"ome": {"version": "0.5", "multiscales": [{"axes": 5}]}}
    )
    report = validate(path)
    assert not report.ok
    (path / "zarr.json").write_text("{ not json")
    assert _has(validate(path), "/", "zarr.json is not valid JSON")


def test_report_api(tmp_path: Path) -> None:
    path = _write_ome_zarr_image(tmp_path / "img.ome.zarr", "0.5", labels=False)
    good = validate(path)
    assert good.ok and "valid OME-NGFF (1 nodes checked, 0 errors, 0 warnings)" in good.summary()
    good.raise_for_errors()
    shutil.rmtree(path / "s1")
    bad = validate(str(path))
    assert "INVALID" in bad.summary() and str(bad).startswith(
        "error: /: multiscales[0].datasets[1]"
    )
    with pytest.raises(ValidationError, match="is not valid OME-NGFF: /: multiscales"):
        bad.raise_for_errors()


# =============================================================================================
# S3 (a real S3 endpoint on 127.0.0.1, see conftest.py)
# =============================================================================================

METADATA_KEYS = ("zarr.json", ".zgroup", ".zattrs", ".zarray", ".zmetadata")


@pytest.mark.parametrize("version", VERSIONS)
def test_validate_on_s3_reads_metadata_only(
    tmp_path: Path,
    version: str,
    s3_server: Any,
    s3_bucket: str,
    s3_options: dict[str, Any],
    s3_bad_options: dict[str, Any],
) -> None:
    import s3fs

    local = _write_ome_zarr_image(tmp_path / "img.ome.zarr", version)
    fs = s3fs.S3FileSystem(**s3_options)
    fs.put(str(local), f"{s3_bucket}/img.ome.zarr", recursive=True)
    url = f"s3://{s3_bucket}/img.ome.zarr"

    with s3_server.count() as log:
        report = validate(url, storage_options=s3_options)
    assert report.ok, str(report)
    assert report.nodes == validate(local).nodes
    gets = log.keys("GET")
    assert gets and all(key and key.endswith(METADATA_KEYS) for key in gets), log.summary()

    fs.rm(f"{s3_bucket}/img.ome.zarr/s1", recursive=True)
    assert _has(
        validate(url, storage_options=s3_options), "/", "'s1': the dataset (level 1) does not exist"
    )
    with pytest.raises(StoreNotFoundError):
        validate(f"s3://{s3_bucket}/missing.zarr", storage_options=s3_options)
    with pytest.raises(StorageAccessError):
        validate(url, storage_options=s3_bad_options)


# =============================================================================================
# --data: every stored chunk decoded
# =============================================================================================


def _data_image(path: Path, **kwargs: Any) -> Path:
    import ngffstore

    data = np.random.default_rng(3).integers(1, 4000, (2, 128, 96), dtype=np.uint16)
    ngffstore.write_image(data, str(path), axes="cyx", chunks=32, min_size=16, progress=False, **kwargs)
    return path


def _chunk_files(image: Path, level: str = "0") -> list[Path]:
    return sorted(p for p in (image / level / "c").rglob("*") if p.is_file())


@pytest.mark.parametrize("shards", [None, (1, 64, 64)])
def test_validate_data_reports_corrupt_and_missing_chunks_by_key(tmp_path: Path, shards: Any, capsys) -> None:
    from ngffstore.cli import main

    image = _data_image(tmp_path / "img.zarr", **({"shards": shards} if shards else {}))
    clean = validate(image, data=True)
    assert clean.ok and clean.objects_checked >= len(_chunk_files(image)), str(clean)
    files = _chunk_files(image)
    truncated, garbled, lost = files[0], files[1], files[-1]
    truncated.write_bytes(truncated.read_bytes()[: len(truncated.read_bytes()) // 2])
    garbled.write_bytes(b"\x00garbage" * 16)
    lost.unlink()
    assert validate(image).ok  # the metadata alone cannot tell
    report = validate(image, data=True)
    assert not report.ok
    for f, what in ((truncated, "is corrupt"), (garbled, "is corrupt"), (lost, "is missing, but level 1 has data")):
        key = f.relative_to(image).as_posix()
        assert _has(report, "/", f"chunk {key} {what}"), str(report)
    assert len(report.errors) == 3, str(report)
    code = main(["validate", str(image), "--data"])
    out = capsys.readouterr().out
    assert code == 1 and f"chunk {truncated.relative_to(image).as_posix()} is corrupt" in out


def test_validate_data_leaves_empty_chunks_alone_and_samples(tmp_path: Path) -> None:
    import ngffstore

    data = np.zeros((64, 64), dtype=np.uint8)
    data[:32, :32] = 7  # three of four level-0 chunks equal the fill value: not stored
    ngffstore.write_image(data, str(tmp_path / "sparse.zarr"), axes="yx", chunks=32, progress=False)
    report = validate(tmp_path / "sparse.zarr", data=True)
    assert report.ok, str(report)
    image = _data_image(tmp_path / "img.zarr")
    sampled = validate(image, sample=2, seed=1)
    levels = len(ngffstore.open_image(str(image)).multiscale.datasets)
    assert sampled.ok and sampled.objects_checked <= 2 * levels
    with pytest.raises(ngffstore.errors.InputError):
        validate(image, sample=0)


def test_validate_data_on_s3_decodes_every_object_once(s3_server, s3_bucket, s3_options, tmp_path: Path) -> None:
    import s3fs

    image = _data_image(tmp_path / "img.zarr")
    fs = s3fs.S3FileSystem(**s3_options)
    files = [str(p) for p in image.rglob("*") if p.is_file()]
    fs.put(files, [f"{s3_bucket}/img.zarr/{Path(p).relative_to(image).as_posix()}" for p in files])
    stored = sum(1 for p in image.rglob("*") if p.is_file() and "/c/" in p.as_posix())
    with s3_server.count() as log:
        report = validate(f"s3://{s3_bucket}/img.zarr", storage_options=s3_options, data=True)
    assert report.ok, str(report)
    chunks = [r.key for r in log.requests if "/c/" in (r.key or "")]
    assert len(chunks) == len(set(chunks)) == report.objects_checked == stored  # none empty here
    assert log.count("HEAD") == 0 and log.count("LIST") == 0


def test_validate_reports_unsafe_paths(tmp_path: Path) -> None:
    path = _write_ome_zarr_image(tmp_path / "img.ome.zarr", "0.5", labels=False)
    doc = json.loads((path / "zarr.json").read_text())
    doc["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] = "s3://elsewhere/0"
    (path / "zarr.json").write_text(json.dumps(doc))
    assert _has(validate(path), "/", "'s3://elsewhere/0' must be a relative path", "URL scheme")
