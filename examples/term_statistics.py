"""Per-term statistics over a collection: how many ROIs carry each term, and their areas.

Walks every image of the collection (plate fields included) and adds up the ROI layer summaries
(``ngffstore.rois.statistics``: counts and areas per term, per image and in total, in pixels² and
physical units). Reads only the ROI metadata of each image — no pixels. Writes
``term_statistics.csv``.

    python examples/term_statistics.py DEMO [--out DIR]
"""

from __future__ import annotations

import sys

try:
    from . import _shared
except ImportError:
    import _shared


@_shared.entry
def main(argv: list[str] | None = None) -> int:
    args = _shared.parser(__doc__).parse_args(argv)
    from ngffstore.errors import StoreNotFoundError
    from ngffstore.rois import statistics
    from ngffstore.storage import Location

    so = _shared.storage_options(args)
    root = Location.parse(args.store, so)
    if not root.exists():
        raise StoreNotFoundError(f"nothing at {root.url}: check the collection URL (e.g. the demo folder)")
    table = statistics(collection=root.url, per_layer=True, storage_options=so)
    if table.empty:
        raise StoreNotFoundError(
            f"no image with ROI layers under {root.url}: check the collection URL, or add ROIs "
            "with 'ngffstore rois import' or 'ngffstore rois from-labels'"
        )
    csv = _shared.out_path(args, "term_statistics.csv")
    table.to_csv(csv, index=False)
    print(table.to_string(index=False))
    print(f"wrote {csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
