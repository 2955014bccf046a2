"""The reader's layers added to a real (headless, Qt-free) napari ``ViewerModel``.

Runs only where napari is installed (``pip install -e '.[napari]'``); the rest of
``tests/napari`` checks the same layer data without napari."""

from __future__ import annotations

import importlib.util
import os
import warnings
from typing import Any

import numpy as np
import pytest

# (this folder, tests/napari, is on sys.path's tests/ too: a namespace package is not napari)
_spec = importlib.util.find_spec("napari")
if _spec is None or _spec.origin is None:
    pytest.skip(
        "napari is not installed (pip install -e '.[napari]'); the layer data is checked without it",
        allow_module_level=True,
    )

from ngffstore.napari import read_layers


def _viewer(layers: list[Any]) -> Any:
    from napari.components import ViewerModel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # napari's own import-time deprecations
        vm = ViewerModel()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # but none from the arguments we give it
        for data, kwargs, kind in layers:
            getattr(vm, f"add_{kind}")(data, **kwargs)
    return vm


def test_demo_image_in_napari(demo_collection):
    url = os.path.join(str(demo_collection.root), "cells.ome.zarr")
    vm = _viewer(read_layers(url))
    kinds = [layer._type_string for layer in vm.layers]
    assert kinds == ["image"] * 3 + ["labels", "shapes", "shapes"]
    dapi = vm.layers[0]
    assert dapi.multiscale and dapi.name.endswith("DAPI")
    assert np.allclose(dapi.colormap.colors[-1], [0, 0, 1, 1])
    assert list(dapi.contrast_limits) == [274.0, 20481.0]
    assert np.allclose(dapi.scale, [0.325, 0.325]) and str(dapi.units[0]) == "micrometer"
    labels = vm.layers[3]
    assert labels.multiscale and np.allclose(labels.colormap.map(0)[3], 0)
    nuclei = vm.layers[5]
    assert nuclei.nshapes == 38 and set(nuclei.features["term"]) == {"nucleus"}
    # ROIs inside the image in world (physical) coordinates: napari's image extent runs from
    # the first pixel's centre to the last's, the ROIs may reach the pixels' outer edges
    lo, hi = dapi.extent.world
    half = np.asarray(dapi.scale) / 2
    for shapes in vm.layers[4:]:
        slo, shi = shapes.extent.world
        assert np.all(slo >= lo - half - 1e-9) and np.all(shi <= hi + half + 1e-9)


def test_demo_plate_in_napari(demo_collection):
    url = os.path.join(str(demo_collection.root), "plate.ome.zarr")
    vm = _viewer(read_layers(url))
    assert [layer._type_string for layer in vm.layers] == ["image", "image", "shapes"]
    wells = vm.layers[2]
    assert wells.nshapes == 6 and sorted(wells.features["well"]) == ["A01", "A02", "A03", "B01", "B02", "B03"]
