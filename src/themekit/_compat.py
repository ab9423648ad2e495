"""Old module paths keep working: ``themekit.mapping_model``, ``themekit.coding``, ... are the
modules they became after the stages moved into subpackages (the same module objects, so
``monkeypatch`` and ``isinstance`` behave as before). Only imports of these names are served;
new code imports the stage packages."""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: old module (under ``themekit.``) -> where it lives now
MOVED = {
    "ingest": "io.readers", "segment": "io.segment", "load": "io.load",
    "models": "embed", "cache": "embed.cache", "finetune": "embed.finetune",
    "codebook_formats": "codebook.formats", "coding": "codebook.coding", "refi": "codebook.refi",
    "refi_common": "codebook.refi_common", "refi_export": "codebook.refi_export",
    "refi_import": "codebook.refi_import",
    "label": "discover.label", "themes": "discover.themes",
    "mapping_features": "mapping.features", "mapping_scores": "mapping.scores",
    "mapping_model": "mapping.model", "mapping_candidates": "mapping.candidates", "seeding": "mapping.seeding",
    "agreement": "audit.agreement", "_coded": "audit.coded", "drift": "audit.drift",
    "miscoding": "audit.miscoding", "evaluate": "audit.evaluate",
    "plots": "report.plots", "study_report": "report.study", "framework": "report.framework",
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        prefix, _, name = fullname.partition(".")
        if prefix != "themekit" or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return importlib.import_module("themekit." + MOVED[spec.name.partition(".")[2]])

    def exec_module(self, module):
        pass   # already executed under its new name


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())
