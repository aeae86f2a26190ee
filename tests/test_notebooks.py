"""The notebooks of ``notebooks/``: paired, parameterised, stored without outputs.

nbmake runs each notebook top to bottom on the demo territory (``make test``); these
tests check what nbmake does not: every ``.ipynb`` has its ``py:percent`` twin with the
same cells (the readable diff), its first code cell is the papermill ``parameters`` cell,
nothing is stored in the outputs, and changing the parameters switches a notebook to a
real territory.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

jupytext = pytest.importorskip("jupytext")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
NAMES = [
    "01-donnees-ouvertes",
    "02-journaux-de-mediation",
    "03-indicateurs-et-indices",
    "04-zones-sous-desservies",
    "05-diagnostic-partage",
]


def _cells(notebook):
    return [
        (cell.cell_type, cell.source, tuple(cell.metadata.get("tags", ())))
        for cell in notebook.cells
    ]


def _read(name: str):
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")) == NAMES


def test_jupytext_config_pairs_the_notebooks_folder_only():
    from jupytext.config import load_jupytext_configuration_file

    config = load_jupytext_configuration_file(str(REPO / "jupytext.toml"))
    for name in NAMES:
        formats = config.default_formats(str(NOTEBOOKS / f"{name}.ipynb"))
        assert formats is not None and "py:percent" in formats, name
    assert config.default_formats(str(REPO / "bench" / "essai.ipynb")) is None


@pytest.mark.parametrize("name", NAMES)
def test_paired_script_has_the_same_cells(name):
    script = NOTEBOOKS / f"{name}.py"
    assert script.is_file(), f"{script.name} absent : .venv/bin/jupytext --sync notebooks/*.ipynb"
    notebook = jupytext.read(NOTEBOOKS / f"{name}.ipynb")
    text = jupytext.read(script)
    assert text.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
    assert _cells(text) == _cells(notebook), (
        f"{name}.ipynb et {name}.py divergent : .venv/bin/jupytext --sync notebooks/{name}.ipynb"
    )
    assert notebook.metadata["jupytext"]["formats"] == "ipynb,py:percent"


@pytest.mark.parametrize("name", NAMES)
def test_first_code_cell_is_the_only_parameters_cell(name):
    notebook = _read(name)
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", ())]
    code = [i for i, c in enumerate(notebook.cells) if c.cell_type == "code"]
    assert len(tagged) == 1
    assert tagged[0] == code[0]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_without_outputs(name):
    notebook = _read(name)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name} : sorties enregistrées (les effacer)"
            assert cell.execution_count is None
    assert "widgets" not in notebook.metadata


# --------------------------------------------------------------------------------------
# Changing the parameter cell: the same notebook on a real territory
# --------------------------------------------------------------------------------------


def _inject(notebook, values: dict):
    """Insert, after the ``parameters`` cell, a cell overriding it (as papermill does)."""
    position = next(i for i, c in enumerate(notebook.cells)
                    if "parameters" in c.metadata.get("tags", ()))
    source = "\n".join(f"{key} = {value!r}" for key, value in values.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(position + 1, cell)
    return notebook


def _text_outputs(notebook) -> str:
    parts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif "data" in output:
                parts.append(output.data.get("text/plain", ""))
    return "\n".join(parts)


REAL = {
    "01-donnees-ouvertes": {"DEMO": False, "EPCI": "242100410"},
    "03-indicateurs-et-indices": {"TERRITOIRE": "242100410"},
    "04-zones-sous-desservies": {"TERRITOIRE": "242100410"},
    "05-diagnostic-partage": {"TERRITOIRE": "242100410"},
}


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.parametrize("name", sorted(REAL))
def test_notebook_runs_on_a_real_territory(name, real_data, tmp_path):
    from nbclient import NotebookClient

    values = {**REAL[name], "DONNEES": str(real_data.resolve())}
    if name.startswith("05"):
        values["SORTIE"] = str(tmp_path / "sortie")
    notebook = _inject(_read(name), values)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()
    finally:
        nbformat.write(notebook, tmp_path / f"{name}.ipynb")  # to inspect a failure
    text = _text_outputs(notebook)
    assert "Dijon" in text
    assert "Territoire de démonstration" not in text
    if name.startswith("04"):
        assert "mode potentiel" in text  # no log given: the potential mode only
    if name.startswith("05"):
        assert (tmp_path / "sortie" / "manifest.json").is_file()
        assert not (REPO / "out" / "diagnostic-242100410").exists()
