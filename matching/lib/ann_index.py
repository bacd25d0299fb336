"""A nearest-neighbour index in files that every reader memory-maps read-only.

The one place the vector library (faiss) is used: building an index over ``(key, vector)``
pairs of any dimension, saving it, and searching a read-only view of the saved files. A view maps
the files with ``mmap`` (faiss's ``IO_FLAG_MMAP_IFC`` maps the HNSW graph and the vectors alike;
the keys are a ``.npy`` array mapped by numpy), so every web and Celery worker that opens the same
files shares one copy in the page cache, however many workers there are.

Vectors are stored as float32 with the squared Euclidean metric, so a returned distance is the
exact distance of the stored vector (square-rooted here): only *which* vectors come back is
approximate. An index of up to ``EXACT_BELOW`` vectors is a flat one, searched exhaustively: as
fast as a graph at that size, and it never misses.

faiss was chosen over usearch by measurement on the same face-like vectors (docs/benchmarks.md,
"In-memory index"): at 200,000 vectors faiss's HNSW answered in 0.18 ms at breadth 64 with every
first hit right, usearch in 0.55 ms with 0.99, and faiss built the graph in half the time.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# HNSW's M (pgvector's indexes here use 32 too) and the build breadth. A wider build breadth
# than pgvector's 64 costs build time once, in the background, and buys recall on every search.
CONNECTIVITY = 32
BUILD_BREADTH = 128
# Up to this many vectors the index is flat: every search compares every vector (~1 ms at most).
EXACT_BELOW = 20_000
KEYS_SUFFIX = ".keys.npy"

# faiss's OpenMP threads are process-wide: searches of one vector run on one thread (more only
# add hand-over costs in a web worker), a build on every core. One build at a time per process.
_threads_lock = threading.Lock()


def _faiss():
    import faiss

    return faiss


@dataclass(frozen=True, slots=True)
class Neighbours:
    """Keys and Euclidean distances of stored vectors, nearest first."""

    keys: np.ndarray
    distances: np.ndarray


def ann_index_build(path: Path, keys: np.ndarray, vectors: np.ndarray) -> int:
    """Write an index of ``vectors`` (n x d, any d) under ``keys`` (n, int64) to ``path`` and
    ``path`` + ``KEYS_SUFFIX``; returns the bytes written.

    Both files are written under temporary names and renamed into place, the keys first, so a
    reader that finds the index file finds its keys.
    """
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    if vectors.ndim != 2 or len(vectors) != len(keys) or vectors.shape[1] == 0:
        raise ValueError("expected one key per vector and a 2-dimensional array of vectors")
    dimensions = vectors.shape[1]
    if len(vectors) <= EXACT_BELOW:
        index = faiss.IndexFlatL2(dimensions)
    else:
        index = faiss.IndexHNSWFlat(dimensions, CONNECTIVITY)
        index.hnsw.efConstruction = BUILD_BREADTH
    with _threads_lock:
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        try:
            index.add(vectors)
        finally:
            faiss.omp_set_num_threads(1)
    keys_path = path.with_name(path.name + KEYS_SUFFIX)
    partial_keys = keys_path.with_name(keys_path.name + ".partial")
    with open(partial_keys, "wb") as handle:
        np.save(handle, keys)
    os.replace(partial_keys, keys_path)
    partial = path.with_name(path.name + ".partial")
    faiss.write_index(index, str(partial))
    os.replace(partial, path)
    return path.stat().st_size + keys_path.stat().st_size


def ann_index_files(path: Path) -> tuple[Path, Path]:
    """The index file and its keys file."""
    return path, path.with_name(path.name + KEYS_SUFFIX)


class AnnIndexView:
    """A read-only, memory-mapped view of a saved index; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        faiss = _faiss()
        faiss.omp_set_num_threads(1)
        self.path = path
        self._keys = np.load(ann_index_files(path)[1], mmap_mode="r")
        self._index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC)
        if self._index.ntotal != len(self._keys):
            raise ValueError(f"{path.name}: the index and its keys differ in length")
        self._graph = isinstance(self._index, faiss.IndexHNSW)
        self.dimensions = int(self._index.d)
        self.size = int(self._index.ntotal)

    def search(self, vector: np.ndarray, count: int, *, breadth: int) -> Neighbours:
        """The ``count`` nearest stored vectors to ``vector``; ``breadth`` is HNSW's ef (at
        least ``count``); a flat index compares every vector."""
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        if query.shape[1] != self.dimensions:
            raise ValueError(f"expected {self.dimensions} numbers, got {query.shape[1]}")
        count = min(count, self.size)
        if count <= 0:
            return Neighbours(np.empty(0, np.int64), np.empty(0, np.float64))
        if self._graph:
            params = _faiss().SearchParametersHNSW(efSearch=max(breadth, count))
            squared, labels = self._index.search(query, count, params=params)
        else:
            squared, labels = self._index.search(query, count)
        found = labels[0] >= 0  # a graph search may return fewer than asked (label -1)
        keys = np.asarray(self._keys[labels[0][found]], dtype=np.int64)
        distances = np.sqrt(np.maximum(squared[0][found].astype(np.float64), 0.0))
        return Neighbours(keys, distances)
