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


def main(argv: list[str] | None = None) -> int:
    args = _shared.parser(__doc__).parse_args(argv)
    from ngffstore.rois import statistics

    table = statistics(collection=args.store, per_layer=True, storage_options=_shared.storage_options(args))
    csv = _shared.out_path(args, "term_statistics.csv")
    table.to_csv(csv, index=False)
    print(table.to_string(index=False))
    print(f"wrote {csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
