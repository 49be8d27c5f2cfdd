#!/usr/bin/python3
"""Small checkpoint, ONNX and .npz files for the format tests (test_formats).

A tiny DLRM state_dict (3 tables of 7, 5, 11 rows, dim 4; bottom 13-8-4; top
10-6-1) written in every layout the importers accept, the expected values as
one float32 .npy per key (expected/, expected_fp16/: importable .npy
directories themselves), and the bad inputs the tests must refuse. Nothing
here is executed by the code under test: evil*.pt / evil*.pkl would run
`touch OUT/pwned_marker` if unpickled by Python.

  make_fixtures.py OUT        (exit 77: no torch in this Python)
"""
import collections
import os
import pickle
import shutil
import sys

import numpy as np

try:
    import torch
    import onnx
    from onnx import helper, numpy_helper, TensorProto
except ImportError as e:
    print(f"SKIP: /usr/bin/python3 cannot import torch/onnx ({e}); install python3-torch python3-onnx")
    sys.exit(77)

SEED = 31
ROWS = [7, 5, 11]
DIM = 4


def state_dict(rng):
    sd = collections.OrderedDict()
    for t, r in enumerate(ROWS):
        sd[f"emb_l.{t}.weight"] = torch.from_numpy(rng.standard_normal((r, DIM)).astype(np.float32))
    for prefix, widths in (("bot_l", [13, 8, 4]), ("top_l", [10, 6, 1])):
        for i in range(len(widths) - 1):
            sd[f"{prefix}.{2 * i}.weight"] = torch.from_numpy(
                rng.standard_normal((widths[i + 1], widths[i])).astype(np.float32))
            sd[f"{prefix}.{2 * i}.bias"] = torch.from_numpy(rng.standard_normal(widths[i + 1]).astype(np.float32))
    return sd


class Evil:
    """Unpickled by Python, this runs a shell command."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def save_npy_dir(sd, path):
    os.makedirs(path, exist_ok=True)
    for k, v in sd.items():
        np.save(os.path.join(path, k + ".npy"), v.float().numpy())


def onnx_model(sd, path, mode, transposed=(), matmul=()):
    """A graph with one node per layer. mode: raw | typed | fp16 | external.
    Names in `transposed` are stored [in, out] under Gemm(transB=0); names in
    `matmul` feed a MatMul (always [in, out])."""
    inits, nodes = [], []
    for k, v in sd.items():
        a = v.numpy().astype(np.float32)
        if k in transposed or k in matmul:
            a = np.ascontiguousarray(a.T)
        if mode == "typed":
            inits.append(helper.make_tensor(k, TensorProto.FLOAT, a.shape, a.flatten().tolist(), raw=False))
        elif mode == "fp16":
            inits.append(helper.make_tensor(k, TensorProto.FLOAT16, a.shape, a.astype(np.float16).flatten(), raw=False))
        else:
            inits.append(numpy_helper.from_array(a, k))
    # A graph constant that is not a state_dict key (must be ignored).
    inits.append(numpy_helper.from_array(np.arange(3, dtype=np.int64), "onnx::Gather_7"))
    x = "dense"
    for prefix in ("bot_l", "top_l"):
        i = 0
        while f"{prefix}.{i}.weight" in sd:
            w = f"{prefix}.{i}.weight"
            out = f"/{prefix}/{i}/out"
            if w in matmul:
                nodes.append(helper.make_node("MatMul", [x, w], [out + "_mm"]))
                nodes.append(helper.make_node("Add", [out + "_mm", f"{prefix}.{i}.bias"], [out]))
            else:
                nodes.append(helper.make_node("Gemm", [x, w, f"{prefix}.{i}.bias"], [out],
                                              transB=0 if w in transposed else 1))
            x = out
            i += 2
        if prefix == "bot_l":
            x = "top_in"
    for t in range(len(ROWS)):
        nodes.append(helper.make_node("Gather", [f"emb_l.{t}.weight", "indices"], [f"/emb/{t}"], axis=0))
    graph = helper.make_graph(
        nodes, "tiny_dlrm",
        [helper.make_tensor_value_info("dense", TensorProto.FLOAT, [None, 13]),
         helper.make_tensor_value_info("top_in", TensorProto.FLOAT, [None, 10]),
         helper.make_tensor_value_info("indices", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [None, 1])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    if mode == "external":
        os.makedirs(os.path.dirname(path), exist_ok=True)
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)
    else:
        onnx.save_model(model, path)


def main():
    out = sys.argv[1]
    # Start empty: onnx.save_model appends to external data files that exist.
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    print(f"make_fixtures: seed {SEED} -> {out}")
    rng = np.random.default_rng(SEED)
    torch.manual_seed(SEED)
    sd = state_dict(rng)
    save_npy_dir(sd, os.path.join(out, "expected"))
    half = collections.OrderedDict((k, v.half()) for k, v in sd.items())
    save_npy_dir(half, os.path.join(out, "expected_fp16"))
    bf16 = collections.OrderedDict((k, v.bfloat16()) for k, v in sd.items())
    save_npy_dir(bf16, os.path.join(out, "expected_bf16"))

    def save(obj, name, legacy=False):
        torch.save(obj, os.path.join(out, name), _use_new_zipfile_serialization=not legacy)

    save(sd, "zip.pt")
    save(sd, "legacy.pt", legacy=True)
    save(half, "fp16.pt")
    save(half, "fp16_legacy.pt", legacy=True)
    save(bf16, "bf16.pt")
    save(collections.OrderedDict((k, v.double()) for k, v in sd.items()), "fp64_legacy.pt", legacy=True)
    save(collections.OrderedDict(("module." + k, v) for k, v in sd.items()), "dataparallel.pt")
    # Parameters (torch._utils._rebuild_parameter) rather than plain tensors.
    save(collections.OrderedDict((k, torch.nn.Parameter(v.clone())) for k, v in sd.items()), "parameters.pt")

    # An MLPerf-style training checkpoint: numpy scalars and optimizer state beside the state_dict.
    params = [torch.nn.Parameter(v.clone()) for v in sd.values()]
    opt = torch.optim.Adam(params, lr=0.1)
    sum(p.sum() for p in params).backward()
    opt.step()
    training = {"epoch": 0, "iter": 12, "state_dict": sd, "train_loss": np.float32(0.25),
                "test_acc": np.float64(0.75), "opt_state_dict": opt.state_dict(), "nbatches": 12}
    save(training, "training.pt")
    save(training, "training_legacy.pt", legacy=True)
    save({"state_dict": sd, "epoch": 3}, "wrapped.pt")

    # Views: a transposed table (stride (1, rows)), a slice at a storage
    # offset, and a column-strided slice (neither axis contiguous).
    views = collections.OrderedDict(sd)
    views["emb_l.0.weight"] = sd["emb_l.0.weight"].t().contiguous().t()
    big = torch.zeros(12, DIM)
    big[3:3 + ROWS[1]] = sd["emb_l.1.weight"]
    views["emb_l.1.weight"] = big[3:3 + ROWS[1]]
    wide = torch.zeros(ROWS[2], 2 * DIM)
    wide[:, ::2] = sd["emb_l.2.weight"]
    views["emb_l.2.weight"] = wide[:, ::2]
    views["bot_l.0.weight"] = sd["bot_l.0.weight"].t().contiguous().t()
    assert views["emb_l.0.weight"].stride() == (1, ROWS[0]) and views["emb_l.1.weight"].storage_offset() == 12
    assert views["emb_l.2.weight"].stride() == (2 * DIM, 2)
    save(views, "views.pt")
    save(views, "views_legacy.pt", legacy=True)

    # Bad checkpoints.
    marker = os.path.join(out, "pwned_marker")
    save({"state_dict": sd, "evil": Evil(marker)}, "evil.pt")
    save({"state_dict": sd, "evil": Evil(marker)}, "evil_legacy.pt", legacy=True)
    with open(os.path.join(out, "evil2.pkl"), "wb") as f:
        pickle.dump(Evil(marker), f, protocol=2)
    with open(os.path.join(out, "evil4.pkl"), "wb") as f:
        pickle.dump(Evil(marker), f, protocol=4)
    model = torch.nn.Sequential(torch.nn.Linear(13, 4))
    save(model, "module.pt")
    missing = collections.OrderedDict((k, v) for k, v in sd.items() if k != "bot_l.2.bias")
    save(missing, "missing_key.pt")
    wrong = collections.OrderedDict(sd)
    wrong["top_l.0.weight"] = torch.zeros(6, 9)
    save(wrong, "wrong_shape.pt")
    ints = collections.OrderedDict(sd)
    ints["emb_l.1.weight"] = torch.zeros(ROWS[1], DIM, dtype=torch.int64)
    save(ints, "int_table.pt")
    save({"foo": 1, "bar": "x"}, "no_state_dict.pt")
    assert not os.path.exists(marker)

    # ONNX.
    onnx_model(sd, os.path.join(out, "inline.onnx"), "raw")
    onnx_model(sd, os.path.join(out, "typed.onnx"), "typed")
    onnx_model(sd, os.path.join(out, "fp16.onnx"), "fp16")
    onnx_model(sd, os.path.join(out, "transposed.onnx"), "raw", transposed=("top_l.0.weight",),
               matmul=("bot_l.0.weight",))
    onnx_model(sd, os.path.join(out, "external", "model.onnx"), "external", transposed=("bot_l.2.weight",))

    # Accuracy data (.npz) for a model with 13 dense features and 3 tables.
    n = 50
    dense = rng.integers(-1, 1000, (n, 13)).astype(np.int64)
    sparse = np.stack([rng.integers(0, r, n) for r in ROWS], axis=1).astype(np.int32)
    labels = rng.integers(0, 2, n).astype(np.int8)
    reference = rng.random(n).astype(np.float32)
    np.savez(os.path.join(out, "data.npz"), dense=dense, sparse=sparse, labels=labels, reference=reference)
    np.savez_compressed(os.path.join(out, "data_compressed.npz"), dense=dense.astype(np.float32), sparse=sparse,
                        labels=labels.astype(np.float64), reference=reference.astype(np.float64))
    np.savez(os.path.join(out, "data_missing.npz"), dense=dense, labels=labels)
    np.savez(os.path.join(out, "data_bad_labels.npz"), dense=dense, sparse=sparse, labels=labels + 2)
    np.savez(os.path.join(out, "data_fractional.npz"), dense=dense + 0.5, sparse=sparse, labels=labels)
    np.savez(os.path.join(out, "data_wrong_tables.npz"), dense=dense, sparse=sparse[:, :2], labels=labels)
    records = np.concatenate([labels[:, None], dense, sparse], axis=1).astype(np.int32)
    records.tofile(os.path.join(out, "data_expected.bin"))
    open(os.path.join(out, "done"), "w").close()
    print("make_fixtures: done")


if __name__ == "__main__":
    main()
