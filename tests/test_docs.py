from pathlib import Path

from fragility._docs import render, render_bilan, render_methodology

REPO = Path(__file__).resolve().parents[1]


def test_sources_doc_is_up_to_date():
    """docs/sources.md is generated from the registry: regenerate it with `make docs`."""
    assert (REPO / "docs" / "sources.md").read_text(encoding="utf-8") == render()


def test_sources_doc_lists_every_registry_entry():
    from fragility.sources import REGISTRY

    text = render()
    for name, source in REGISTRY.items():
        assert f"`{name}`" in text
        assert source.licence in text


def test_methodology_doc_is_up_to_date():
    """docs/methodologie.md is generated from the registries: regenerate it with `make docs`."""
    text = (REPO / "docs" / "methodologie.md").read_text(encoding="utf-8")
    assert text == render_methodology()
    from fragility.indicators import REGISTRY

    for key in REGISTRY:
        assert key in text


def test_bilan_doc_is_up_to_date():
    """docs/bilan.md is generated from fragility.bilan's registry (`make docs`)."""
    text = (REPO / "docs" / "bilan.md").read_text(encoding="utf-8")
    assert text == render_bilan()
    from fragility.bilan import INDICATORS, TABLES

    for key in [*INDICATORS, *TABLES]:
        assert f"`{key}" in text
