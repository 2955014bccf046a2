"""``ngffstore publish-metadata ROOT``: RO-Crate metadata (ro-crate-metadata.json) for a collection."""

from __future__ import annotations

import argparse

from ._common import add_storage_args, storage_options_for

ORDER = 75


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "publish-metadata",
        help="write RO-Crate metadata (ro-crate-metadata.json) for a collection: licence, organism, modality",
        description="Write ROOT/ro-crate-metadata.json (RO-Crate 1.1, schema.org and the OME NGFF Challenge "
        "terms) listing the images and plates of the collection's index, so that the published study is "
        "findable. Example: ngffstore publish-metadata demo-store --license CC-BY-4.0 --organism "
        "NCBITaxon:9606 --modality FBbi:00000246 --name 'Demo' --description 'Synthetic cells and a plate'",
    )
    p.add_argument("root", help="collection root (with its index): a folder or s3://bucket/prefix")
    p.add_argument("--license", help="licence: an SPDX id (CC-BY-4.0, CC0-1.0) or a URL (required)")
    p.add_argument("--organism", help="NCBI Taxon id, e.g. NCBITaxon:9606 (human)")
    p.add_argument("--modality", help="imaging method (FBbi), e.g. FBbi:00000246 (fluorescence microscopy)")
    p.add_argument("--name", help="the study's name (required)")
    p.add_argument("--description", help="what the study shows (required)")
    p.add_argument("--author", action="append", default=[], help="an author's name (repeat for several)")
    add_storage_args(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..publish import write_crate

    summary = write_crate(
        args.root, name=args.name, description=args.description, license=args.license,
        organism=args.organism, modality=args.modality, authors=args.author,
        storage_options=storage_options_for(args.root, args),
    )
    print(summary.to_text())
    return 0
