# fragility — commandes du projet. `make` (ou `make help`) les liste.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installe
OUT ?= reports/demo
FRAGILITY_REAL_DATA ?= ../shared/data/real
export FRAGILITY_REAL_DATA

.DEFAULT_GOAL := help
.PHONY: help venv demo reproduce test chromium lint format docs bench bench-quick clean

help: ## Lister les commandes
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## Créer .venv et installer fragility avec ses dépendances

demo: $(STAMP) ## Diagnostic du territoire de démonstration (synthétique) dans reports/demo
	$(BIN)/fragility diagnose --demo --out $(OUT)

TERRITORY ?= reports/demo

reproduce: $(STAMP) ## Relancer une analyse publiée depuis son manifeste et vérifier l'identité des sorties (TERRITORY=dossier)
	$(BIN)/fragility reproduce $(TERRITORY)

test: $(STAMP) chromium ## Vérifier le style, le sens des imports, et lancer tous les tests
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports
	$(BIN)/pytest -q

chromium: ## Installer Chromium (paquet Debian) pour les tests dans un vrai navigateur, s'il manque
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { echo "Installation de Chromium (paquet Debian)…"; \
	    apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null; } || \
	    echo "Chromium non installé : les tests « browser » échoueront en CI."; }

lint: $(STAMP) ## Style (ruff) et contrat d'imports (import-linter)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

format: $(STAMP) ## Mettre en forme le code
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

docs: $(STAMP) ## Régénérer docs/sources.md depuis le registre
	$(BIN)/python -m fragility._docs

bench: $(STAMP) ## Banc national (49 000 IRIS, journaux 1 M et 10 M, pairs) et détection → bench/results*.md
	$(BIN)/python bench/bench_national.py
	$(BIN)/python bench/bench_underserved.py

bench-quick: $(STAMP) ## Banc national sur un petit territoire (essai rapide, résultats hors du dépôt)
	$(BIN)/python bench/bench_national.py --quick

clean: ## Supprimer les fichiers produits (pas le cache de téléchargement)
	rm -rf reports/demo out .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
