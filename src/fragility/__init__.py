"""fragility: territorial diagnostics of isolation, non-recours and social-mediation coverage.

The public API is a handful of names; everything else lives in second-tier modules
(``fragility.sources``, ``fragility.demo``...).

Examples
--------
>>> import fragility as fr
>>> territoire = fr.Territory.demo()  # doctest: +SKIP
>>> table = fr.build_iris_table(territoire)  # doctest: +SKIP
>>> table.coverage.head()  # doctest: +SKIP
"""

from fragility.diagnose import Diagnostic, diagnose
from fragility.iris_table import IrisTable, build_iris_table
from fragility.territory import Territory

__version__ = "0.1.0"

__all__ = ["Diagnostic", "IrisTable", "Territory", "__version__", "build_iris_table", "diagnose"]
