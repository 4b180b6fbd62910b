"""The folder put on ``PYTHONPATH`` (``weave-run --shim-path``); holds ``sitecustomize.py``."""
