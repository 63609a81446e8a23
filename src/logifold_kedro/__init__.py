"""logifold-kedro: entropy-gated ensembles and the Immunization Mechanism as Kedro pipelines."""

__version__ = "0.1.0"
