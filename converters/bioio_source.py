"""Any format a bioio reader plugin reads (ND2, LIF, CZI, DV, ...) -> :class:`Source`.

ngffstore's own readers come first; a file none of them knows goes to ``bioio`` when it is
installed with a plugin that claims the file (``pip install 'ngffstore[bioio]' bioio-nd2``).
bioio presents every scene as ``TCZYX`` (plus ``S`` for RGB samples) with physical pixel sizes
in micrometers and channel names; scenes are series. The data come from the plugin's own lazy
dask array, rechunked to whole planes.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any

from ngffstore.errors import InputError, NgffStoreError
from ngffstore.storage import Location

from ._common import apply_axes, make_source, to_canonical
from ._io import short, stem
from .base import Source

EXTRA = "bioio"


def bioio_installed() -> bool:
    return importlib.util.find_spec("bioio") is not None


def installed_plugins() -> dict[str, list[str]]:
    """bioio reader plugins installed here: name -> file suffixes (empty without bioio)."""
    if not bioio_installed():
        return {}
    from importlib.metadata import entry_points

    out: dict[str, list[str]] = {}
    for entry in entry_points(group="bioio.readers"):
        try:
            metadata = entry.load().ReaderMetadata
            out[entry.name] = sorted(metadata.get_supported_extensions())
        except Exception:  # noqa: BLE001, S112  # a broken plugin is not listed
            continue
    return out


def find_plugin(location: Location) -> str | None:
    """The name of the installed bioio plugin that reads ``location``, or None."""
    if not bioio_installed():
        return None
    from bioio import BioImage

    try:
        entry = BioImage.determine_plugin(_path(location), fs_kwargs=dict(location.storage_options))
    except Exception:  # noqa: BLE001  # UnsupportedFileFormatError, or a plugin's own error
        return None
    return str(entry.entrypoint.name)


def _path(location: Location) -> str:
    return location.path if location.is_local else location.url


def open_bioio(
    location: Location, *, series: int | None = None, axes: str | None = None, plugin: str | None = None
) -> Source:
    """Open one scene of ``location`` through bioio (``plugin``: force that plugin by name)."""
    where = location.url
    if not bioio_installed():
        raise InputError(f"{where}: reading it through bioio needs bioio: pip install 'ngffstore[{EXTRA}]'")
    from bioio import BioImage

    kwargs: dict[str, Any] = {"fs_kwargs": dict(location.storage_options)}
    if plugin is not None:
        kwargs["reader"] = _reader_class(plugin, where)
    try:
        image = BioImage(_path(location), **kwargs)
        scenes = list(image.scenes)
    except NgffStoreError:
        raise
    except Exception as exc:
        raise InputError(f"cannot read {where} with bioio: {short(exc)}; check that the file is complete") from exc
    index = 0 if series is None else series
    if not isinstance(index, int) or not 0 <= index < len(scenes):
        listing = ", ".join(f"{i}: {s}" for i, s in enumerate(scenes[:20]))
        raise InputError(
            f"{where} has no series {series!r}; it has {len(scenes)} ({listing}); choose one with "
            f"--series {'0' if len(scenes) == 1 else f'0..{len(scenes) - 1}'}"
        )
    try:
        image.set_scene(index)
        data = image.dask_data
        order = str(image.dims.order)
        sizes = image.physical_pixel_sizes
        names = [str(n) for n in (image.channel_names or [])]
    except Exception as exc:
        raise InputError(f"cannot read {where} with bioio: {short(exc)}") from exc
    letters = order.lower()
    colors: list[str | None] | None = None
    if "s" in letters:  # RGB samples: channels when there is one channel
        c = letters.index("c")
        if data.shape[c] != 1:
            raise InputError(f"{where}: {data.shape[c]} channels of RGB samples are not supported")
        data = data[tuple(0 if i == c else slice(None) for i in range(data.ndim))]
        letters = letters.replace("c", "").replace("s", "c")
        names = ["R", "G", "B", "A"][: data.shape[letters.index("c")]]
        colors = ["FF0000", "00FF00", "0000FF", "FFFFFF"][: len(names)]
    if set(letters) - set("tczyx"):
        raise InputError(f"{where}: bioio dimensions {order!r} are not supported")
    data, letters = to_canonical(data, letters)
    planes = tuple(n if a in "yx" else 1 for a, n in zip(letters, data.shape))
    data = data.rechunk(planes)
    if axes is None:
        kept = [i for i, (a, n) in enumerate(zip(letters, data.shape)) if n > 1 or a in "yx" or (a == "c" and names)]
        data = data[tuple(slice(None) if i in kept else 0 for i in range(data.ndim))]
        canonical = "".join(letters[i] for i in kept)
    else:
        data, canonical = apply_axes(data, axes, where, keep=[letters.index("y"), letters.index("x")])
    scale = {a: float(v) for a, v in (("z", sizes.Z), ("y", sizes.Y), ("x", sizes.X)) if v}
    name = stem(location) if len(scenes) == 1 else f"{stem(location)}_{scenes[index]}"
    metadata: Mapping[str, Any] = {"reader": f"bioio {type(image.reader).__module__.split('.')[0]}"}
    source = make_source(
        data, canonical, where=where, name=name, scale=scale,
        units={a: "micrometer" for a in scale}, channel_names=names or None, channel_colors=colors,
        metadata=metadata,
    )
    return source


def _reader_class(plugin: str, where: str) -> Any:
    from importlib.metadata import entry_points

    for entry in entry_points(group="bioio.readers"):
        if entry.name == plugin:
            return entry.load().ReaderMetadata.get_reader()
    have = ", ".join(sorted(installed_plugins())) or "none"
    raise InputError(f"{where}: no bioio plugin {plugin!r} is installed (installed: {have}); pip install {plugin}")
