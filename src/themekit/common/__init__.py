"""Helpers every stage may use, and nothing else: table cells (:mod:`.tables`) and the HTML page
and run manifest that every command writes (:mod:`.output`). Imports only :mod:`themekit.types`."""
