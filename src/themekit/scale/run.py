"""The library calls with a Dask ``client``: the same results as without one."""

from __future__ import annotations

from ..audit import audit as _audit
from ..discover import discover as _discover
from ..embed import embed_utterances as _embed_utterances
from ..io import read_transcripts as _read_transcripts
from .engine import mapper_for

__all__ = ["read_transcripts", "embed_utterances", "discover", "predict_proba", "audit"]


def read_transcripts(paths, metadata=None, *, client=None, **kwargs):
    """:func:`themekit.io.read_transcripts`, files read and transcripts segmented on the workers."""
    return _read_transcripts(paths, metadata, mapper=mapper_for(client), **kwargs)


def embed_utterances(utterances, embedder=None, *, client=None, **kwargs):
    """:func:`themekit.embed.embed_utterances`, chunks of texts encoded on the workers (each
    loads the model once); only this process reads and writes the cache."""
    return _embed_utterances(utterances, embedder, mapper=mapper_for(client), **kwargs)


def discover(corpus_or_utterances, embeddings=None, embedder=None, *, client=None, **kwargs):
    """:func:`themekit.discover.discover` with the embedding and, on a large corpus, the
    assignment of every unit to its code spread over the workers."""
    mapper = mapper_for(client)
    if embeddings is None:
        from ..types import Corpus
        utts = corpus_or_utterances.select() if isinstance(corpus_or_utterances, Corpus) \
            else list(corpus_or_utterances)
        embeddings = _embed_utterances(utts, embedder, mapper=mapper,
                                       progress=kwargs.get("progress", True))
        corpus_or_utterances = utts
    return _discover(corpus_or_utterances, embeddings, embedder, mapper=mapper, **kwargs)


def predict_proba(code_mapper, utterances, *, client=None, **kwargs):
    """A fitted :class:`themekit.mapping.CodeMapper`'s scores for ``utterances``, chunks of
    utterances scored on the workers (the fitted model sent once to each)."""
    return code_mapper.predict_proba(utterances, mapper=mapper_for(client), **kwargs)


def audit(corpus, segments, codebook=None, *, client=None, **kwargs):
    """:func:`themekit.audit.audit` with the drift test's permutations run on the workers."""
    return _audit(corpus, segments, codebook, engine=mapper_for(client), **kwargs)
