"""Download cache: local first, checksums enforced, offline and archive cases."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import socket
import zipfile
from pathlib import Path

import py7zr
import pytest

from fragility._files import sha256_of
from fragility.errors import SourceError
from fragility.sources import _cache
from fragility.sources._cache import SevenZip, cache_path, data_home, fetch, pinned_hash
from fragility.sources._model import LICENCE_OUVERTE, Source

FS = "france_services/liste-fs-20240801_dep21.csv"
FS_SHA = "b267552a9366a72d15e8425b41490e8b70d92164584cfcecbc8c75affc059243"
CSV = "code_iris;pop\n211230101;2154\n211230102;1873\n"


def _source(url: str, filename: str, sha256: str | None = None, **kwargs) -> Source:
    fields = {"name": "essai_france_services", "layer": "france_services"} | kwargs
    return Source(
        title_fr="Essai",
        publisher="ANCT",
        vintage="2024-08-01",
        licence=LICENCE_OUVERTE,
        url=url,
        filename=filename,
        sha256=sha256,
        **fields,
    )


def _closed_url(name: str = "fichier.csv") -> str:
    """URL on a 127.0.0.1 port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def served(tmp_path, http_server):
    """A writable served folder holding ``a.csv``; returns (folder, base_url)."""
    folder = tmp_path / "srv"
    folder.mkdir()
    (folder / "a.csv").write_text(CSV, encoding="utf-8")
    return folder, http_server(folder)


@pytest.fixture
def real_source(real_data, http_server) -> Source:
    base = http_server(real_data)  # served in place, read only
    return _source(f"{base}/{FS}", "liste-fs-20240801_dep21.csv", FS_SHA)


# --- real file ---------------------------------------------------------------------------


@pytest.mark.real_data
def test_first_download_of_real_file(real_source, real_data, http_server):
    path = fetch(real_source)
    assert path == cache_path(real_source)
    assert path.parent == Path(os.environ["FRAGILITY_DATA_DIR"]) / "sources"
    assert sha256_of(path) == FS_SHA
    assert path.read_bytes() == (real_data / FS).read_bytes()
    assert http_server.requests["n"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temp file left


@pytest.mark.real_data
def test_cache_hit_makes_no_request_even_offline(real_source, http_server):
    first = fetch(real_source)
    assert fetch(real_source) == first
    assert http_server.requests["n"] == 1
    offline = dataclasses.replace(real_source, url=_closed_url(real_source.filename))
    assert fetch(offline) == first
    assert http_server.requests["n"] == 1
    assert sha256_of(first) == FS_SHA


@pytest.mark.real_data
def test_checksum_mismatch_deletes_download(real_source):
    wrong = dataclasses.replace(real_source, sha256="0" * 64)
    with pytest.raises(SourceError, match="Empreinte SHA-256 inattendue") as info:
        fetch(wrong)
    message = str(info.value)
    for part in (wrong.name, wrong.url, "0" * 64, FS_SHA, "supprimé", "--data-dir"):
        assert part in message
    assert "\n" not in message
    assert not cache_path(wrong).exists()
    assert list(cache_path(wrong).parent.iterdir()) == []


@pytest.mark.real_data
def test_corrupted_cache_file_is_downloaded_again(real_source, http_server):
    path = fetch(real_source)
    path.write_bytes(b"fichier tronque")
    assert fetch(real_source) == path
    assert http_server.requests["n"] == 2
    assert sha256_of(path) == FS_SHA


def test_corrupted_cache_and_bad_download_leave_no_file(served):
    folder, base = served
    source = _source(f"{base}/a.csv", "a.csv", _sha(CSV.encode()))
    path = fetch(source)
    path.write_bytes(b"corrompu")
    (folder / "a.csv").write_text(CSV + "211230103;999\n", encoding="utf-8")
    with pytest.raises(SourceError, match="corrompue retirée"):
        fetch(source)
    assert not path.exists()
    assert list(path.parent.iterdir()) == []


# --- network failures --------------------------------------------------------------------


def test_offline_raises_french_source_error():
    source = _source(_closed_url(), "fichier.csv", "a" * 64)
    with pytest.raises(SourceError, match="machine hors ligne") as info:
        fetch(source)
    message = str(info.value)
    for part in (source.name, source.url, str(cache_path(source)), "--data-dir"):
        assert part in message
    assert isinstance(info.value, OSError)
    assert not cache_path(source).exists()


def test_http_404_raises_source_error(served, http_server):
    _, base = served
    source = _source(f"{base}/absent.csv", "absent.csv", "a" * 64)
    with pytest.raises(SourceError, match="404"):
        fetch(source)
    assert http_server.requests["n"] == 1
    assert list(cache_path(source).parent.iterdir()) == []


# --- checksum not pinned yet -------------------------------------------------------------


def test_unpinned_source_is_pinned_then_enforced(served, http_server):
    folder, base = served
    source = _source(f"{base}/a.csv", "a.csv")
    with pytest.raises(SourceError, match="accepter-non-verifie"):
        fetch(source)
    assert http_server.requests["n"] == 0
    assert pinned_hash(source) is None

    path = fetch(source, allow_unpinned=True)
    assert path.read_text(encoding="utf-8") == CSV
    pins = json.loads((path.parent / "pins.json").read_text(encoding="utf-8"))
    assert pins == {source.name: _sha(CSV.encode())}
    assert pinned_hash(source) == _sha(CSV.encode())
    assert fetch(source) == path  # pinned now: accepted, served from the cache
    assert http_server.requests["n"] == 1

    (folder / "a.csv").write_text("autre contenu\n", encoding="utf-8")
    path.unlink()
    with pytest.raises(SourceError, match=r"pins\.json") as info:
        fetch(source, allow_unpinned=True)
    assert _sha(b"autre contenu\n") in str(info.value)
    assert not path.exists()


def test_pinned_hash_prefers_registry(tmp_path):
    source = _source("http://127.0.0.1:1/a.csv", "a.csv", "AB" * 32)
    assert pinned_hash(source, data_home=tmp_path) == "ab" * 32
    assert cache_path(source, data_home=tmp_path) == tmp_path / "sources" / "a.csv"
    with pytest.raises(SourceError, match="invalide"):
        cache_path(dataclasses.replace(source, filename="../a.csv"))


# --- archives ----------------------------------------------------------------------------


def test_zip_member(served, http_server):
    folder, base = served
    archive = folder / "paquet.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("dossier/donnees.csv", CSV)
        zf.writestr("LISEZMOI.txt", "notice")
    source = _source(f"{base}/paquet.zip", "paquet.zip", sha256_of(archive), member="*.csv")
    path = fetch(source)
    assert path.read_text(encoding="utf-8") == CSV
    assert path.name == "donnees.csv"
    assert cache_path(source).is_file()  # the archive itself stays cached

    with pytest.raises(SourceError, match="2 fichiers"):
        fetch(dataclasses.replace(source, member="*"))
    with pytest.raises(SourceError, match="0 fichiers"):
        fetch(dataclasses.replace(source, member="*.gpkg"))
    assert http_server.requests["n"] == 1


def _make_7z(folder: Path, tmp_path: Path) -> tuple[Path, bytes]:
    gpd = pytest.importorskip("geopandas")
    shapely = pytest.importorskip("shapely")
    gpkg = tmp_path / "iris.gpkg"
    frame = gpd.GeoDataFrame(
        {"code_iris": ["211230101", "211230102"]},
        geometry=[shapely.box(850000, 6690000, 851000, 6691000), shapely.Point(852000, 6692000)],
        crs="EPSG:2154",
    )
    frame.to_file(gpkg, driver="GPKG")
    archive = folder / "CONTOURS-IRIS.7z"
    with py7zr.SevenZipFile(archive, "w") as sz:
        sz.write(gpkg, "CONTOURS-IRIS/1_DONNEES_LIVRAISON/CONTOURS-IRIS.gpkg")
        sz.writestr(CSV, "CONTOURS-IRIS/LISEZMOI.csv")
    return archive, gpkg.read_bytes()


def test_7z_member(served, http_server, tmp_path):
    gpd = pytest.importorskip("geopandas")
    folder, base = served
    archive, gpkg_bytes = _make_7z(folder, tmp_path)
    source = _source(
        f"{base}/{archive.name}",
        archive.name,
        sha256_of(archive),
        layer="iris_contours",
        member="*.gpkg",
    )
    path = fetch(source)
    assert path.read_bytes() == gpkg_bytes
    assert path.parent.parent.parent == Path(f"{cache_path(source)}.extracted")
    frame = gpd.read_file(path)
    assert list(frame["code_iris"]) == ["211230101", "211230102"]
    assert frame.crs.to_epsg() == 2154
    assert not (path.parent.parent / "LISEZMOI.csv").exists()  # only the wanted member

    shutil.rmtree(f"{cache_path(source)}.extracted")
    assert fetch(source).read_bytes() == gpkg_bytes  # extracted again, no download
    assert http_server.requests["n"] == 1


def test_sevenzip_processor_direct(served, tmp_path):
    folder, _ = served
    archive, _ = _make_7z(folder, tmp_path)
    found = SevenZip(members="LISEZMOI.*")(str(archive), "download", None)
    assert [Path(p).read_text(encoding="utf-8") for p in found] == [CSV]
    assert Path(found[0]).parent == Path(f"{archive}.extracted") / "CONTOURS-IRIS"
    Path(found[0]).write_text("modifié", encoding="utf-8")
    assert Path(SevenZip("LISEZMOI.*")(str(archive), "fetch", None)[0]).read_text() == "modifié"
    assert Path(SevenZip("LISEZMOI.*")(str(archive), "update", None)[0]).read_text() == CSV
    everything = SevenZip()(str(archive), "fetch", None)
    assert len(everything) == 2
    with pytest.raises(SourceError, match="7z illisible"):
        SevenZip()(str(folder / "a.csv"), "download", None)


# --- data folder -------------------------------------------------------------------------


def test_data_home_honours_env_and_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAGILITY_DATA_DIR", str(tmp_path / "env1"))
    assert data_home() == tmp_path / "env1"
    assert (tmp_path / "env1").is_dir()
    monkeypatch.setenv("FRAGILITY_DATA_DIR", str(tmp_path / "env2"))  # read at each call
    assert data_home() == tmp_path / "env2"
    assert data_home(tmp_path / "explicite") == tmp_path / "explicite"
    assert (tmp_path / "explicite").is_dir()

    monkeypatch.delenv("FRAGILITY_DATA_DIR")
    seen = []

    def fake_cache_dir(name):
        seen.append(name)
        return str(tmp_path / "platformdirs" / name)

    monkeypatch.setattr(_cache.platformdirs, "user_cache_dir", fake_cache_dir)
    assert data_home() == tmp_path / "platformdirs" / "fragility"
    assert seen == ["fragility"]


def test_fetch_uses_explicit_data_home(served, tmp_path):
    _, base = served
    source = _source(f"{base}/a.csv", "a.csv", _sha(CSV.encode()))
    path = fetch(source, data_home=tmp_path / "ailleurs")
    assert path == tmp_path / "ailleurs" / "sources" / "a.csv"
    assert path.read_text(encoding="utf-8") == CSV
    assert not cache_path(source).exists()


def test_tgz_member_like_the_npm_cog_package(served, http_server):
    """The COG comes as an npm tarball (``package/data/*.json``): tar members work too."""
    import io
    import tarfile

    folder, base = served
    archive = folder / "decoupage.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, text in (("package/data/communes.json", '[{"code": "21231"}]'),
                           ("package/data/epci.json", "[]")):
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    source = _source(f"{base}/decoupage.tgz", "decoupage.tgz", sha256_of(archive),
                     member="package/data/communes.json")
    path = fetch(source)
    assert path.read_text(encoding="utf-8") == '[{"code": "21231"}]'
    assert http_server.requests["n"] == 1


def test_shapefile_member_comes_with_its_sidecars(served, http_server, tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    folder, base = served
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    gpd.GeoDataFrame({"CODE_IRIS": ["212310101"]}, geometry=[Point(0, 0).buffer(1)],
                     crs=2154).to_file(shp_dir / "CONTOURS-IRIS.shp")
    archive = folder / "contours.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for part in shp_dir.iterdir():
            zf.write(part, f"LAMB93/{part.name}")
    source = _source(f"{base}/contours.zip", "contours.zip", sha256_of(archive),
                     member="LAMB93/CONTOURS-IRIS.*")
    path = fetch(source)
    assert path.suffix == ".shp"
    assert gpd.read_file(path)["CODE_IRIS"].tolist() == ["212310101"]


@pytest.mark.network
def test_real_cog_package_from_the_npm_registry():
    """Real download (never in CI: `pytest -m network`)."""
    from fragility.sources import fetch as fetch_registry

    path = fetch_registry("etalab_decoupage_administratif_6_0_0")
    assert path.name == "communes.json"
