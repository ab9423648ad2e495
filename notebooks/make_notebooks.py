"""Writes the three example notebooks (stored without outputs). Run: python notebooks/make_notebooks.py"""

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent
SETUP = """import os
from pathlib import Path
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything runs offline
import themekit

# the example study that ships with themekit (run from the repository or from notebooks/)
STUDY = next(p for p in (Path("data/example"), Path("../data/example")) if p.is_dir())"""


def nb(cells):
    book = nbf.v4.new_notebook()
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.cells = [nbf.v4.new_markdown_cell(c[3:]) if c.startswith("md:") else nbf.v4.new_code_cell(c)
                  for c in cells]
    for i, cell in enumerate(book.cells):   # stable cell ids: regenerating changes only what changed
        cell["id"] = f"cell-{i:02d}"
    return book


SEEDING = nb([
    "md:# Seeding an initial codebook\n\nFrom the participants' own words to a draft codebook you can "
    "edit: read the transcripts, embed the utterances (offline, cached), propose candidate codes and "
    "themes, check them against the quotes, edit, and export.",
    SETUP,
    "corpus = themekit.read_transcripts(STUDY)\ncorpus",
    "md:Every utterance keeps its transcript, speaker, role and exact character offsets.",
    "df = corpus.to_pandas()\ndf[[\"transcript_id\", \"speaker\", \"role\", \"start\", \"end\", \"text\"]].head(8)",
    "units = corpus.select()            # participants' speech, without back-channels\n"
    "from themekit.embed import embed_utterances\n"
    "emb = embed_utterances(units)      # cached: a rerun costs nothing\nemb",
    "result = themekit.discover(units, embeddings=emb, random_state=0)\nresult.codes.head(10)",
    "md:## Read the codes against the quotes\nThemes group related codes; stability says how often "
    "repeated clusterings agree on a code, spread how many participants voice it.",
    "print(result.tree())",
    "first = result.codes.id.iloc[0]\nresult.code(first).exemplars()",
    "md:## Utterances no code took\nOutliers are utterances the clusterings did not agree on and that are "
    "farther from every code than its least typical members. Read them: some are small talk, some "
    "a code too rare to cluster. `reassign_outliers` places them by a rule you state.",
    "outliers = result.assignments[result.assignments.code.isna()]\n"
    "print(f\"{len(outliers)} outliers ({result.outlier_share():.0%})\")\n"
    "outliers[[\"transcript_id\", \"speaker\", \"score\", \"text\"]].sort_values(\"score\", ascending=False).head(8)",
    "placed = result.reassign_outliers(min_similarity=0.35)   # join the nearest code if cosine >= 0.35\n"
    "print(f\"outliers: {result.outlier_share():.0%} -> {placed.outlier_share():.0%}\")",
    "md:## Edit: merge, split, rename, delete\nEach edit returns a new result with key terms, "
    "exemplars, spread and themes recomputed.",
    "a, b = result.codes.id.iloc[:2]\n"
    "edited = result.merge(a, b).rename(a, \"Making sense of the triage tool\")\n"
    "edited.codes[[\"id\", \"label\", \"size\", \"n_participants\", \"stability\"]].head()",
    "md:## Export the draft codebook\nYAML for editing, REFI-QDA `.qdc` for NVivo, ATLAS.ti, MAXQDA, QualCoder.",
    "import tempfile\nout = Path(tempfile.mkdtemp())\ndraft = edited.to_codebook()\n"
    "draft.save(out / \"draft.yaml\"); draft.save(out / \"draft.qdc\")\n"
    "print((out / \"draft.yaml\").read_text()[:800])",
])

MAPPING = nb([
    "md:# Mapping and auditing against a codebook\n\nWhere do the data and the codebook agree? Which "
    "utterances probably belong to which code (review the uncertain ones first)? How well do the two "
    "coders agree, and does coding drift across interviews?",
    SETUP,
    "corpus = themekit.read_transcripts(STUDY)\ncodebook = themekit.Codebook.load(STUDY / \"codebook.csv\")\n"
    "segments = themekit.read_coded_segments(STUDY / \"coded_segments.csv\", corpus)\n"
    "print(len(codebook.codable()), \"codes;\", len(segments), \"coded segments\")",
    "md:## Intercoder agreement\nCoders' segments are aligned on utterances (a segment codes the "
    "utterances it covers by at least half, or the one containing it).",
    "aligned = themekit.align_to_utterances(segments, corpus, utterances=corpus.select())\n"
    "themekit.agreement_table(aligned, n_boot=200).round(3)",
    "md:## Deductive suggestions, seeded with part of the human coding\nSay the first four interviews "
    "are coded: learn from them, suggest codes for the other four, and check against their coding.",
    "from themekit.embed import embed_utterances\nfrom themekit.mapping import CodeMapper, unsupported_codes\n"
    "units = corpus.select()\nemb = embed_utterances(units)\n"
    "seeds = [s for s in segments if s.transcript_id in {\"P01\", \"P02\", \"P03\", \"P04\"}]\n"
    "mapper = CodeMapper(random_state=0).fit(codebook, units, embeddings=emb, corpus=corpus, seeds=seeds)\n"
    "mapper.suggestions(order=\"uncertain\").head(10)",
    "held_out = [u for u in units if u.transcript_id in {\"P05\", \"P06\", \"P07\", \"P08\"}]\n"
    "gold = themekit.align_to_utterances([s for s in segments if s.coder == \"AH\"], corpus, utterances=held_out)\n"
    "sugg = mapper.suggestions()\nreport = themekit.evaluate(sugg[sugg.utterance_id.isin(gold.utterance_id)], gold)\n"
    "print(report.summary())\nreport.per_code.round(2).sort_values(\"f1\")",
    "unsupported_codes(mapper)",
    "md:Which utterances should a coder look at next to improve the suggestions most?",
    "mapper.suggest_next(5)",
    "md:## Candidate codes from the data against the codebook\n*emergent* = no codebook code fits: a "
    "candidate new code.",
    "from themekit.mapping import map_candidates\nresult = themekit.discover(units, embeddings=emb, random_state=0)\n"
    "cm = map_candidates(result, mapper)\ncm[cm[\"rank\"] == 1][[\"candidate\", \"label\", \"code\", \"score\", \"status\"]]",
    "md:## Audit: drift and suspected mis-codings",
    "from themekit.audit import audit\nreport = audit(corpus, segments, codebook=codebook, random_state=0)\n"
    "report.miscodings.head(5)",
    "report.drift.head(10)",
])

EXPLORE = nb([
    "md:# Free exploration\n\nEvery step is a plain call you can inspect; the plots show the quote "
    "behind each point when you hover.",
    SETUP,
    "corpus = themekit.read_transcripts(STUDY)\ndf = corpus.to_pandas()\n"
    "df.groupby([\"transcript_id\", \"role\"]).size().unstack()",
    "md:Who says what: utterances per participant role and site (from `metadata.csv`).",
    "df[df.role == \"participant\"].groupby(\"site\").size()",
    "from themekit.embed import embed_utterances\nfrom themekit.report.study import map_points\n"
    "units = corpus.select()\nemb = embed_utterances(units)\npoints = map_points(units, emb.vectors)\n"
    "result = themekit.discover(units, embeddings=emb, random_state=0)\n"
    "points = points.merge(result.assignments[[\"utterance_id\", \"code\"]], on=\"utterance_id\")\n"
    "labels = dict(zip(result.codes.id, result.codes.label))\npoints[\"label\"] = points.code.map(labels)",
    "from themekit.report import plots\nplots.utterance_map(points, color_by=\"code\")",
    "plots.code_overview(result.codes)",
    "md:Search the corpus for a word and read the quotes in context.",
    "hits = df[df.text.str.contains(\"waiting\", case=False) & (df.role == \"participant\")]\n"
    "hits[[\"transcript_id\", \"speaker\", \"start\", \"end\", \"text\"]].head()",
    "md:A framework matrix from the human coding: participants × themes, quotes in the cells.",
    "codebook = themekit.Codebook.load(STUDY / \"codebook.csv\")\n"
    "segments = themekit.read_coded_segments(STUDY / \"coded_segments.csv\", corpus)\n"
    "fm = themekit.framework_matrix(segments, corpus, codebook)\nfm.summary()",
])

if __name__ == "__main__":
    for name, book in (("01_seeding_a_codebook.ipynb", SEEDING), ("02_mapping_and_audit.ipynb", MAPPING),
                       ("03_exploration.ipynb", EXPLORE)):
        nbf.write(book, HERE / name)
        print("wrote", HERE / name)
