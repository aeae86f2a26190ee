"""Mediation logs: import any export, validate, pseudonymise, locate, aggregate."""
