"""Command line: ``fragility`` (French help; one clear sentence on error)."""

from __future__ import annotations

import contextlib
import functools
import sys
from pathlib import Path
from typing import Annotated

import typer

from fragility.errors import FragilityError

app = typer.Typer(
    help="fragility — diagnostic territorial partagé : isolement, non-recours et couverture de "
    "la médiation sociale à l'IRIS, à partir des données ouvertes (INSEE, IGN, ANCT).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
sources_app = typer.Typer(
    help="Sources de données ouvertes : registre, téléchargement, reconnaissance d'un dossier.",
    no_args_is_help=True,
)
app.add_typer(sources_app, name="sources")
logs_app = typer.Typer(
    help="Journaux de médiation : contrôle, import pseudonymisé, simulation.", no_args_is_help=True
)
app.add_typer(logs_app, name="logs")

_state = {"debug": False}

Demo = Annotated[bool, typer.Option("--demo", help="Territoire de démonstration (synthétique).")]
Epci = Annotated[str | None, typer.Option("--epci", help="EPCI : code SIREN ou nom.")]
Communes = Annotated[
    str | None, typer.Option("--communes", help="Liste de codes communes séparés par des virgules.")
]
Departement = Annotated[str | None, typer.Option("--departement", help="Code du département.")]
DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Dossier des fichiers sources locaux (reconnus par leur contenu)."
    ),
]
Mapping = Annotated[
    Path | None,
    typer.Option(
        "--correspondance", help="Fichier YAML/TOML de correspondance des colonnes et valeurs."
    ),
]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--key-file", help="Fichier de la clé de pseudonymisation (sinon FRAGILITY_PSEUDO_KEY)."
    ),
]
Seed = Annotated[int, typer.Option("--graine", help="Graine du territoire de démonstration.")]


@app.callback()
def _main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Afficher la trace complète des erreurs.")
    ] = False,
) -> None:
    _state["debug"] = debug


def _friendly(func):
    """Turn a FragilityError into one French sentence and exit code 1 (unless --debug)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except FragilityError as exc:
            if _state["debug"]:
                raise
            typer.echo(f"Erreur : {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper


def _territory(
    demo: bool,
    epci: str | None,
    communes: str | None,
    departement: str | None,
    data_dir: Path | None,
    seed: int = 0,
):
    from fragility.errors import InputError
    from fragility.territory import Territory

    chosen = [
        name
        for name, value in (
            ("--demo", demo),
            ("--epci", epci),
            ("--communes", communes),
            ("--departement", departement),
        )
        if value
    ]
    if len(chosen) != 1:
        raise InputError(
            "indiquez exactement un territoire : --demo, --epci, --communes ou "
            f"--departement (reçu : {', '.join(chosen) or 'aucun'})."
        )
    if demo:
        if data_dir is not None:
            raise InputError("--data-dir ne s'utilise pas avec --demo (données synthétiques).")
        return Territory.demo(seed=seed)
    if epci:
        return Territory.from_epci(epci, data_dir=data_dir)
    if communes:
        return Territory.from_communes(
            [c for c in communes.split(",") if c.strip()], data_dir=data_dir
        )
    return Territory.from_departement(departement, data_dir=data_dir)


@app.command("territory")
@_friendly
def territory_cmd(
    out: Annotated[Path, typer.Option("--out", help="Dossier de sortie.")],
    demo: Demo = False,
    epci: Epci = None,
    communes: Communes = None,
    departement: Departement = None,
    data_dir: DataDir = None,
    seed: Seed = 0,
) -> None:
    """Construire la table IRIS d'un territoire : iris.gpkg, iris.csv et couverture.md."""
    from fragility.iris_table import build_iris_table

    territory = _territory(demo, epci, communes, departement, data_dir, seed)
    table = build_iris_table(territory, progress=True)
    paths = table.write(out)
    typer.echo(
        f"{territory.label} : {len(table.gdf)} IRIS, {table.gdf['commune'].nunique()} communes."
    )
    for warning in table.warnings:
        typer.echo(f"  ! {warning}")
    typer.echo(f"Écrit : {', '.join(str(p) for p in paths)}")


@app.command("diagnose")
@_friendly
def diagnose_cmd(
    out: Annotated[Path, typer.Option("--out", help="Dossier de sortie.")] = Path("reports"),
    demo: Demo = False,
    epci: Epci = None,
    communes: Communes = None,
    departement: Departement = None,
    data_dir: DataDir = None,
    logs: Annotated[
        Path | None,
        typer.Option(
            "--logs",
            help="Export du journal de médiation (CSV, XLSX, Parquet). Sans journal : mode "
            "potentiel (besoin × accessibilité), sauf sur la démo (journal simulé).",
        ),
    ] = None,
    key_file: KeyFile = None,
    mapping: Mapping = None,
    zone: Annotated[
        str | None,
        typer.Option(
            "--zone",
            help="Zone d'intervention : codes IRIS ou communes séparés par des virgules, ou "
            "fichier (un code par ligne). Hors zone : IRIS non évalués.",
        ),
    ] = None,
    services: Annotated[
        Path | None,
        typer.Option(
            "--services",
            help="Vos points de service (permanences…) : CSV avec nom, lon/lat (ou x/y) et "
            "éventuellement heures_hebdo.",
        ),
    ] = None,
    potential: Annotated[
        bool,
        typer.Option(
            "--potentiel", help="Démo : ne pas simuler de journal (mode potentiel)."
        ),
    ] = False,
    k: Annotated[
        int,
        typer.Option(
            "-k", "--seuil", help="Seuil de secret (personnes distinctes par case publiée)."
        ),
    ] = 11,
    sites: Annotated[
        int,
        typer.Option("--sites", help="Nombre de permanences nouvelles à proposer (0 : aucune)."),
    ] = 3,
    site_radius: Annotated[
        float, typer.Option("--rayon-site", help="Rayon couvert par une permanence (km).")
    ] = 3.0,
    catchment: Annotated[
        float, typer.Option("--bassin", help="Bassin de l'accessibilité E2SFCA (km).")
    ] = 20.0,
    pdf: Annotated[
        bool, typer.Option("--pdf", help="Écrire aussi diagnostic.pdf (via Chromium).")
    ] = False,
    seed: Seed = 0,
) -> None:
    """Lancer le diagnostic : indices, couverture, zones sous-desservies, cartes, rapport."""
    import dataclasses

    from fragility.assessment import AssessmentSettings
    from fragility.diagnose import diagnose

    territory = _territory(demo, epci, communes, departement, data_dir, seed)
    settings = dataclasses.replace(
        AssessmentSettings(), k=k, sites=sites, site_radius_m=1000 * site_radius,
        catchment_m=1000 * catchment,
    )
    result = diagnose(
        territory,
        out,
        logs=logs,
        key_file=key_file,
        mapping=mapping,
        zone=zone,
        services=services,
        simulate=False if potential else None,
        settings=settings,
        progress=True,
        seed=seed,
        pdf=pdf,
    )
    typer.echo(result.summary())


@app.command("reproduce")
@_friendly
def reproduce_cmd(
    published: Annotated[
        Path, typer.Argument(help="Dossier d'une analyse publiée (ou son manifest.json).")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Dossier de la nouvelle exécution (défaut : <dossier>/reproduction)."
        ),
    ] = None,
    data_dir: DataDir = None,
    logs: Annotated[
        Path | None, typer.Option("--logs", help="Journal, s'il a changé de place.")
    ] = None,
    key_file: KeyFile = None,
) -> None:
    """Relancer une analyse publiée depuis son manifeste et vérifier des sorties identiques."""
    from fragility.diagnose import reproduce

    result = reproduce(published, out, data_dir=data_dir, logs=logs, key_file=key_file)
    typer.echo(result.summary())
    if not result.identical:
        raise typer.Exit(1)


@app.command("bilan")
@_friendly
def bilan_cmd(
    logs: Annotated[
        Path, typer.Option("--logs", help="Export du journal de médiation (CSV, XLSX, Parquet).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Dossier de sortie du bilan.")] = Path(
        "bilan"),
    demo: Demo = False,
    epci: Epci = None,
    communes: Communes = None,
    departement: Departement = None,
    data_dir: DataDir = None,
    key_file: KeyFile = None,
    mapping: Mapping = None,
    period: Annotated[
        str | None,
        typer.Option("--periode", help="Période : AAAA (année) ou AAAA-MM:AAAA-MM. Défaut : "
                     "les mois du journal."),
    ] = None,
    structure: Annotated[
        str, typer.Option("--structure", help="Nom de la structure, tel qu'il doit paraître.")
    ] = "Structure de médiation",
    k: Annotated[
        int, typer.Option("-k", "--seuil", help="Seuil de secret (personnes par case publiée).")
    ] = 11,
    seed: Seed = 0,
) -> None:
    """Bilan d'activité d'un service de médiation (bilan.html, bilan/*.csv, manifest.json)."""
    from fragility.bilan import BilanSettings, parse_period, run_bilan

    territory = _territory(demo, epci, communes, departement, data_dir, seed)
    settings = BilanSettings(period=parse_period(period), structure=structure, k=k)
    bilan = run_bilan(territory, out, logs=logs, key_file=key_file, mapping=mapping,
                      settings=settings, seed=seed)
    typer.echo(bilan.summary())


@app.command("consolider")
@_friendly
def consolider_cmd(
    folders: Annotated[
        list[Path], typer.Argument(help="Dossiers de bilan des structures (au moins deux).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Dossier de la consolidation.")] = Path(
        "consolidation"),
    demo: Demo = False,
    epci: Epci = None,
    communes: Communes = None,
    departement: Departement = None,
    data_dir: DataDir = None,
    seed: Seed = 0,
) -> None:
    """Consolider les bilans de plusieurs structures (tables protégées, jamais les journaux)."""
    from fragility.consolidate import consolidate

    territory = None
    if demo or epci or communes or departement:
        territory = _territory(demo, epci, communes, departement, data_dir, seed)
    result = consolidate(folders, out, territory=territory)
    typer.echo(result.summary())


@sources_app.command("list")
@_friendly
def sources_list() -> None:
    """Lister les jeux de données officiels connus (millésime, licence, adresse)."""
    from fragility.sources import list_sources

    for name, row in list_sources().iterrows():
        pinned = "épinglée" if row["sha256"] else "non épinglée"
        typer.echo(f"{name:45s} {row['publisher']:22s} {row['vintage']:11s} empreinte {pinned}")


@sources_app.command("describe")
@_friendly
def sources_describe(name: Annotated[str, typer.Argument(help="Nom de la source.")]) -> None:
    """Décrire une source du registre."""
    from fragility.sources import describe

    typer.echo(describe(name))


@sources_app.command("fetch")
@_friendly
def sources_fetch(
    name: Annotated[str, typer.Argument(help="Nom de la source.")],
    unpinned: Annotated[
        bool,
        typer.Option(
            "--accepter-non-verifie",
            help="Télécharger une source sans empreinte épinglée et enregistrer son empreinte.",
        ),
    ] = False,
) -> None:
    """Télécharger (ou retrouver dans le cache) un fichier du registre, vérifié par empreinte."""
    from fragility.sources import fetch

    typer.echo(str(fetch(name, progress=True, allow_unpinned=unpinned)))


@sources_app.command("scan")
@_friendly
def sources_scan(directory: Annotated[Path, typer.Argument(help="Dossier à examiner.")]) -> None:
    """Dire quelles couches un dossier contient (reconnues par leur contenu)."""
    from fragility.sources import LAYERS, discover

    catalogue = discover(directory)
    for layer, files in sorted(catalogue.files.items()):
        for f in files:
            tag = f" = {f.source}" if f.source else ""
            typer.echo(
                f"{LAYERS[layer].title_fr} [{f.vintage or 'millésime ?'}] : "
                f"{f.path.relative_to(directory)}{tag}"
            )
    for path, reason in catalogue.ignored:
        typer.echo(f"ignoré : {path.relative_to(directory)} ({reason})")




@logs_app.command("check")
@_friendly
def logs_check(
    file: Annotated[Path, typer.Argument(help="Export du logiciel de suivi (CSV, XLSX, Parquet).")],
    mapping: Mapping = None,
    demo: Demo = False, epci: Epci = None, communes: Communes = None,
    departement: Departement = None, data_dir: DataDir = None, seed: Seed = 0,
) -> None:
    """Contrôler un export sans l'importer : lignes acceptées, rejets et leurs motifs.

    Avec un territoire (--demo, --epci…), les codes IRIS et communes hors du territoire
    sont aussi signalés.
    """
    from fragility.logs.read import read_export
    from fragility.logs.validate import validate_events

    raw = read_export(file, mapping=mapping)
    iris = communes_set = None
    if any((demo, epci, communes, departement)):
        from fragility.iris_table import build_iris_table

        gdf = build_iris_table(_territory(demo, epci, communes, departement, data_dir, seed)).gdf
        iris, communes_set = set(gdf.index), set(gdf["commune"])
    result = validate_events(raw, iris=iris, communes=communes_set)
    rejected = result.rejects["ligne"].nunique()
    typer.echo(
        f"Fichier : {file.name} ({raw.file_format}"
        + (f", encodage {raw.encoding}, séparateur « {raw.separator} »" if raw.encoding else "")
        + ")"
    )
    typer.echo(
        f"Lignes lues : {result.n_read} = acceptées {len(result.accepted)} + rejetées "
        f"{rejected} (dont {result.duplicates} doublon(s) exact(s))"
    )
    if raw.unknown_columns:
        typer.echo("Colonnes non reconnues : " + ", ".join(raw.unknown_columns))
    if raw.identifier_columns:
        typer.echo(
            "Colonnes identifiantes (supprimées à l'import) : " + ", ".join(raw.identifier_columns)
        )
    for _, row in result.rejects.head(20).iterrows():
        typer.echo(f"  ligne {row['ligne']}, {row['champ']} : {row['motif']}")
    if rejected > 20:
        typer.echo(f"  … et {rejected - 20} autre(s) ligne(s) rejetée(s).")


@contextlib.contextmanager
def _dask_scheduler(engine: str, address: str | None):
    """Where ``--engine dask`` computes: a cluster given by address, else local threads.

    With a terminal, the local computation shows Dask's progress bar on stderr.
    """
    from fragility.errors import ConfigError, InputError

    if address is not None and engine != "dask":
        raise InputError("--scheduler ne s'utilise qu'avec --engine dask.")
    if engine != "dask":
        yield
        return
    try:
        if address is None:
            from dask.diagnostics import ProgressBar
        else:
            from distributed import Client
    except ImportError as exc:
        raise ConfigError(
            f"le moteur dask demande le paquet « {(exc.name or '').split('.')[0]} », absent : "
            "installez-le avec pip install 'fragility[dask]'."
        ) from exc
    if address is None:
        with ProgressBar(out=sys.stderr) if sys.stderr.isatty() else contextlib.nullcontext():
            yield
        return
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise FragilityError(
            f"impossible de joindre l'ordonnanceur Dask « {address} » ({type(exc).__name__}) : "
            "vérifiez l'adresse (tcp://hôte:8786) et que le port est ouvert."
        ) from None
    with client:
        yield


@logs_app.command("import")
@_friendly
def logs_import(
    file: Annotated[Path, typer.Argument(help="Export du logiciel de suivi (CSV, XLSX, Parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Dossier de sortie.")],
    key_file: KeyFile = None,
    mapping: Mapping = None,
    k: Annotated[
        int,
        typer.Option(
            "-k", "--seuil", help="Seuil de secret (personnes distinctes par case publiée)."
        ),
    ] = 11,
    demo: Demo = False,
    epci: Epci = None,
    communes: Communes = None,
    departement: Departement = None,
    data_dir: DataDir = None,
    seed: Seed = 0,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            metavar="[pandas|dask]",
            help="Moteur d'import : pandas (tout en mémoire, par défaut) ou dask (par "
            "partitions ; FILE peut alors être un dossier Parquet partitionné). Voir "
            "docs/passage-a-l-echelle.md.",
        ),
    ] = "pandas",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            metavar="ADRESSE",
            help="Avec --engine dask : adresse d'un ordonnanceur Dask existant "
            "(tcp://hôte:8786) ; sans elle, calcul local en threads.",
        ),
    ] = None,
) -> None:
    """Importer un export : valider, pseudonymiser, localiser ; écrire le journal et les rejets."""
    from fragility.publish import import_and_publish

    territory = _territory(demo, epci, communes, departement, data_dir, seed)
    with _dask_scheduler(engine, scheduler):
        result, paths = import_and_publish(
            file, territory, out, key_file=key_file, mapping=mapping, k=k, engine=engine
        )
    typer.echo(result.summary())
    typer.echo("Écrit : " + ", ".join(str(p) for p in paths))


@logs_app.command("partitionner")
@_friendly
def logs_partition(
    file: Annotated[Path, typer.Argument(help="Export du logiciel de suivi (CSV, XLSX, Parquet).")],
    out: Annotated[Path, typer.Option("--out", help="Dossier des partitions (neuf ou vide).")],
    rows: Annotated[
        int,
        typer.Option("--lignes-par-partition", help="Lignes au plus par fichier Parquet."),
    ] = 1_000_000,
    mapping: Mapping = None,
) -> None:
    """Découper un export en Parquet partitionné pour --engine dask (lecture par morceaux).

    Le dossier garde les identifiants bruts des personnes (pseudonymisés à l'import) :
    il est aussi sensible que l'export lui-même. Voir docs/passage-a-l-echelle.md.
    """
    import json

    from fragility.logs.dask_engine import METADATA_FILE, to_partitioned_parquet

    directory = to_partitioned_parquet(file, out, rows_per_partition=rows, mapping=mapping)
    description = json.loads((directory / METADATA_FILE).read_text(encoding="utf-8"))
    typer.echo(
        f"{description['lignes']} lignes de {file.name} en {len(description['partitions'])} "
        f"partition(s) → {directory}"
    )
    typer.echo(
        "Colonnes identifiantes non copiées (empreinte salée à la place) : "
        + (", ".join(description["colonnes_identifiantes"]) or "aucune")
    )


@logs_app.command("simulate")
@_friendly
def logs_simulate(
    out: Annotated[Path, typer.Option("--out", help="Fichier CSV (ou .xlsx) à écrire.")],
    n: Annotated[int, typer.Option("--n", help="Nombre d'interventions.")] = 20000,
    graine: Annotated[int, typer.Option("--seed", help="Graine aléatoire.")] = 1,
    planted: Annotated[
        int,
        typer.Option(
            "--sous-desservis", help="Nombre d'IRIS rendus sous-desservis (vérité cachée)."
        ),
    ] = 0,
    demo: Demo = False,
    epci: Epci = None,
    communes: Communes = None,
    departement: Departement = None,
    data_dir: DataDir = None,
    seed: Seed = 0,
) -> None:
    """Simuler un export réaliste (en-têtes français, lignes fautives, identifiants plantés)."""
    from fragility.iris_table import build_iris_table
    from fragility.logs.simulate import simulate_export, write_export

    territory = _territory(demo, epci, communes, departement, data_dir, seed)
    table = build_iris_table(territory)
    sim = simulate_export(table, n=n, seed=graine, planted_under_served=planted)
    path = write_export(sim, out)
    truth = out.with_name(out.stem + "_verite.csv")
    sim.truth.to_csv(truth, sep=";")
    typer.echo(
        f"Export simulé ({territory.label}) : {len(sim.frame)} lignes dont "
        f"{len(sim.messy_lines)} volontairement fautives → {path}"
    )
    typer.echo(f"Vérité simulée (IRIS, contacts attendus, sous-desservis plantés) → {truth}")


def main() -> None:
    """Entry point of the ``fragility`` console script."""
    sys.exit(app())
