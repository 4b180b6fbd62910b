"""Vendor and framework instrumentations: one folder each; the table is in ``registry``."""
