"""napari reader for ngffstore stores, contributed through the npe2 manifest ``napari.yaml``.

Opening an image store (local path, ``s3://`` or ``https://`` URL) in napari gives the
multiscale image (one layer per channel, omero colours and windows, physical scale and units),
its label images (multiscale labels layers with the stored colours and properties) and each ROI
layer as a Shapes layer coloured by term; opening a plate gives the whole-plate mosaic (the
stored preview when it is fresh) and the wells as labelled rectangles. See :mod:`._reader`.

Nothing here imports napari: :func:`read_layers` returns plain napari ``LayerData`` tuples
``(data, kwargs, layer_type)``, so it runs (and is tested) headless. Install the extra
``pip install 'ngffstore[napari]'`` to get napari and npe2.
"""

from ._reader import napari_get_reader, read_layers

__all__ = ["napari_get_reader", "read_layers"]
