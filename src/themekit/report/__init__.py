"""Stage 7, report: what a researcher opens — figures, the HTML study report, framework matrices.

Takes the results of the stages above (corpus, discovery, mapping, audit, codebook, coding);
gives plotly figures as pure functions of tables (every point hovers to its verbatim quote),
the self-contained offline ``report.html``, and framework matrices (one table per theme, one
row per participant) with their Excel export. Modules: ``plots``, ``study`` (the study report),
``review`` (the review view: act on suggestions in the browser), ``framework``. The page and manifest primitives are in :mod:`themekit.common.output`, shared
with the audit's own figures page.
"""

from __future__ import annotations

from ..common.output import Section, build_manifest, figure_html, fingerprint, table_html, write_manifest, write_report
from . import plots
from .framework import FrameworkMatrix, Quote, export_framework_excel, framework_matrix, row_labels
from .review import review_data, review_order, review_section
from .study import map_points, study_report

__all__ = ["plots", "study_report", "map_points", "FrameworkMatrix", "Quote", "framework_matrix",
           "export_framework_excel", "row_labels", "Section", "figure_html", "table_html", "write_report",
           "build_manifest", "write_manifest", "fingerprint", "review_order", "review_data", "review_section"]
