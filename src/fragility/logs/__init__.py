"""Mediation logs: import any export, validate, pseudonymise, locate, aggregate, simulate.

Examples
--------
>>> import fragility as fr
>>> table = fr.build_iris_table(fr.Territory.demo())  # doctest: +SKIP
>>> sim = fr.logs.simulate_export(table, n=20000, seed=1)  # doctest: +SKIP
>>> fr.logs.write_export(sim, "export.csv")  # doctest: +SKIP
>>> log = fr.logs.read_log("export.csv", table.gdf, key_file="cle.txt")  # doctest: +SKIP
>>> log.report["lues"] == log.report["acceptees"] + log.report["rejetees"]  # doctest: +SKIP
True
"""

from fragility.logs.aggregate import aggregate
from fragility.logs.importer import LogImport, read_log
from fragility.logs.locate import locate
from fragility.logs.schema import SCHEMA_VERSION, VOCABULARIES, event_schema
from fragility.logs.simulate import SimulatedExport, simulate_export, write_export

__all__ = [
    "SCHEMA_VERSION",
    "VOCABULARIES",
    "LogImport",
    "SimulatedExport",
    "aggregate",
    "event_schema",
    "locate",
    "read_log",
    "simulate_export",
    "write_export",
]
