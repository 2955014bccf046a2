"""`ngffstore publish-metadata`: RO-Crate metadata of a collection, read back with `rocrate`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from rocrate.rocrate import ROCrate

from ngffstore.cli import main
from ngffstore.errors import InputError
from ngffstore.index.search import search
from ngffstore.publish import CRATE_FILE, parse_license, parse_modality, parse_organism, write_crate

ARGS = ["--license", "CC-BY-4.0", "--organism", "NCBITaxon:9606", "--modality", "FBbi:00000246",
        "--name", "Demo study", "--description", "Synthetic cells and a 6-well plate"]


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def collection(demo_collection, tmp_path):
    root = tmp_path / "demo"
    shutil.copytree(demo_collection.root, root)
    return root


def test_the_crate_reads_back_with_rocrate(collection, capsys):
    code, out, err = run(capsys, "publish-metadata", collection, *ARGS, "--author", "A. Person")
    assert code == 0, err
    assert "1 image(s) and 1 plate(s)" in out
    crate = ROCrate(str(collection))
    assert crate.name == "Demo study" and crate.description == "Synthetic cells and a 6-well plate"
    assert crate.license.id == "https://creativecommons.org/licenses/by/4.0/"
    assert crate.license["identifier"] == "CC-BY-4.0"
    parts = {e.id: e for e in crate.data_entities}
    rows = search(str(collection))
    expected = {p + "/" for p in rows[rows["plate_path"].isna()]["path"]} | {
        p + "/" for p in rows["plate_path"].dropna().unique()
    }
    assert set(parts) == expected == {"cells.ome.zarr/", "plate.ome.zarr/"}
    for e in parts.values():
        assert e.type == "Dataset" and e["conformsTo"].id == "https://ngff.openmicroscopy.org/0.5/"
    plate = parts["plate.ome.zarr/"]
    assert plate["name"] == "demo plate"
    props = {p["name"]: p["value"] for p in plate["additionalProperty"]}
    assert props["fields"] == 12 and props["wells"] == 6
    assert "demo" in parts["cells.ome.zarr/"]["keywords"]
    # the NGFF challenge's chain: root -> image_acquisition (FBbi) -> specimen -> biosample -> taxon
    acquisition = crate.root_dataset["resultOf"]
    assert acquisition.type == "image_acquisition"
    assert acquisition["fbbi_id"].id == "obo:FBbi_00000246"
    biosample = acquisition["specimen"]["biosample"]
    assert biosample["organism_classification"].id == "http://purl.obolibrary.org/obo/NCBITaxon_9606"
    assert crate.root_dataset["author"][0]["name"] == "A. Person"
    with open(collection / CRATE_FILE) as f:
        doc = json.load(f)
    descriptor = next(e for e in doc["@graph"] if e["@id"] == CRATE_FILE)
    assert descriptor["conformsTo"] == {"@id": "https://w3id.org/ro/crate/1.1"}
    assert doc["@context"][0] == "https://w3id.org/ro/crate/1.1/context"
    assert doc["@context"][1]["organism_classification"] == "https://schema.org/taxonomicRange"


def test_on_s3(collection, s3_server, s3_bucket, s3_options, tmp_path):
    import s3fs

    fs = s3fs.S3FileSystem(**s3_options)
    fs.put(str(collection), f"{s3_bucket}/demo", recursive=True)
    url = f"s3://{s3_bucket}/demo"
    with s3_server.count() as log:
        summary = write_crate(url, name="Demo", description="d", license="CC0-1.0", storage_options=s3_options)
    assert summary.images == 1 and summary.plates == 1
    assert log.count("PUT") == 1 and "HEAD" not in log.counts()
    local = tmp_path / "back"
    local.mkdir()
    fs.get(f"{s3_bucket}/demo/{CRATE_FILE}", str(local / CRATE_FILE))
    crate = ROCrate(str(local))
    assert crate.license.id == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert "resultOf" not in crate.root_dataset.properties()  # no organism nor modality given


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--organism", "NCBITaxon:9606", "--name", "n", "--description", "d"], "a licence is required"),
        (["--license", "CC-BY-4.0", "--organism", "human", "--name", "n", "--description", "d"], "not an NCBI Taxon id"),
        (["--license", "CC-BY-4.0", "--modality", "confocal", "--name", "n", "--description", "d"], "FBbi:00000246"),
        (["--license", "CC-BY-4.0", "--description", "d"], "needs a name"),
        (["--license", "not a licence!", "--name", "n", "--description", "d"], "neither an SPDX id"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(collection, capsys, argv, words):
    code, _out, err = run(capsys, "publish-metadata", collection, *argv)
    assert code != 0 and words in err and len(err.strip().splitlines()) == 1, err
    assert not (collection / CRATE_FILE).exists()


def test_a_folder_without_index_and_an_http_root(tmp_path, capsys):
    code, _out, err = run(capsys, "publish-metadata", tmp_path, *ARGS)
    assert code != 0 and "ngffstore index" in err and len(err.strip().splitlines()) == 1
    assert not (Path(tmp_path) / CRATE_FILE).exists()
    code, _out, err = run(capsys, "publish-metadata", "https://example.org/demo", *ARGS)
    assert code != 0 and "read-only" in err


def test_identifier_forms():
    assert parse_organism("NCBI:txid10090") == parse_organism("10090") == "http://purl.obolibrary.org/obo/NCBITaxon_10090"
    assert parse_modality("obo:FBbi_00000369") == parse_modality("FBbi_00000369") == "obo:FBbi_00000369"
    assert parse_license("https://example.org/l") == ("https://example.org/l", "https://example.org/l")
    assert parse_license("mit") == ("https://spdx.org/licenses/mit", "mit")
    with pytest.raises(InputError):
        parse_license("")
