"""Helpers every stage may use, and nothing else: table cells (:mod:`.tables`), the cache of step
results (:mod:`.results`) and the HTML page
and run manifest that every command writes (:mod:`.output`). Imports only :mod:`themekit.types`."""
