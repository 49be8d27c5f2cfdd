#!/usr/bin/env python3
"""Seeds of fuzz.multi_hot, written with numpy: a selector byte (0: the .npz,
1: dense.npy, 2: labels.npy), then the file, for 4 samples, 2 dense features
and 3 tables of hotness 1, 2, 3 (what multi_hot_fuzzer.cc expects).

  make_multi_hot_seeds.py OUT_DIR

aligned.npz (selector 0, MultiHotWriter's ZIP64 layout) is copied from a run
of the fuzzer (its work directory's valid_sparse_multi_hot.npz);
labels_huge_dimension.npy and labels_overflowing_shape.npy are headers whose
shape overflowed std::stoll and int64 (found by the fuzzer, kept as seeds)."""
import io
import pathlib
import sys

import numpy as np

out = pathlib.Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
bags = {str(t): (np.arange(4 * h).reshape(4, h) % (3 + 2 * t)).astype(np.int32) for t, h in enumerate([1, 2, 3])}


def seed(name, selector, write):
    buf = io.BytesIO()
    write(buf)
    (out / name).write_bytes(bytes([selector]) + buf.getvalue())


seed("numpy.npz", 0, lambda f: np.savez(f, **bags))
seed("compressed.npz", 0, lambda f: np.savez_compressed(f, **bags))
seed("dense.npy", 1, lambda f: np.save(f, np.arange(8, dtype=np.float32).reshape(4, 2)))
seed("labels.npy", 2, lambda f: np.save(f, np.array([[0], [1], [1], [0]], dtype=np.int32)))
