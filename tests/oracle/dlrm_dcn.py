#!/usr/bin/python3
"""DLRM_DCN (MLPerf DLRM-v2, TorchRec's DLRM_DCN) in plain PyTorch, from its formulas.

TorchRec is not packaged here, so the model is written out (DESIGN.md, "Facts
about DLRM-v2"), for an architecture given as a dict shaped like the
manifest's "arch" (ModelArch):

  {"dense_features": 13, "dim": D, "bottom_mlp": [..., D], "top_mlp": [..., 1],
   "cross_layers": L, "cross_rank": R, "table_rows": [rows of each table],
   "hotness": [lookups per pair of each table]}      (hotness optional: 1 each)

For a batch of N pairs, dense float [N, dense_features] and for each table t a
bag of indices per pair (offsets, or an [N, h_t] array as in MLPerf's
day_23_sparse_multi_hot.npz):

  x      = bottom MLP(dense)                          ReLU after every layer
  e_t[n] = sum over the bag of pair n of table_t[i]   (EmbeddingBag mode='sum')
  x0     = concat(x, e_0, ..., e_{T-1})               width X = (T + 1) * D, bottom first
  x_{l+1} = x0 * (W_l (V_l x_l) + b_l) + x_l          l = 0..L-1, V_l [R, X] first, W_l [X, R], * elementwise
  logit  = top MLP(x_L)                               ReLU after each layer but the last
  p      = sigmoid(logit)

The state_dict is saved under the namings dlrm-shard import reads:

  torchrec   sparse_arch.embedding_bag_collection.embedding_bags.t_cat_{t}.weight,
             dense_arch.model._mlp.{i}._linear.{weight,bias},
             inter_arch.crossnet.{V_kernels,W_kernels,bias}.{l},
             over_arch.model.0._mlp.{i}._linear.{weight,bias}, over_arch.model.1.{weight,bias}
  dlrmtrain  the same, each key after "model." (TorchRec's DLRMTrain wrapper)
  intel      Intel's dlrm-multihot-pytorch.pt renaming (the same tensors, not transposed):
             ...embedding_bags.{t}.weight, dense_arch.model._mlp.{2i}.{weight,bias},
             inter_arch.crossnet.MLPs.V{l}.weight, MLPs.W{l}.weight, MLPs.W{l}.bias,
             over_arch.model._mlp.{2i}.{weight,bias}
  internal   dlrm-shard's own names, as dense.bin holds them: emb_l.{t}.weight,
             bot_l.{2i}.*, cross.{l}.V / .W / .bias, top_l.{2i}.*

As a module: build(arch, seed), state_dict(model, naming), save(model, path,
form), predict(model, dense, sparse), random_batch(arch, n, seed),
read_dense_bin(path), read_tables(dir), from_internal(arch, tensors),
from_model_dir(dir) (the model of a dlrm-shard fp32 directory: synth too).
As a program (exit 77 without torch):

  dlrm_dcn.py write OUT [--arch tiny|small-v2] [--seed S]
      OUT/torchrec.pt, dlrmtrain.pt, intel.pt (torch.save, zip), OUT/npy_torchrec/,
      npy_intel/ (one KEY.npy per key), OUT/internal/ (expected dense.bin tensors
      and tables, KEY.npy), OUT/arch.json, and OUT/done last
  dlrm_dcn.py selftest [--seed S]
      DlrmDcn against a pair-by-pair float64 numpy evaluation of the formulas
  dlrm_dcn.py compare MODEL_DIR OUT
      the model directory dlrm-shard wrote (fp32 rows) holds exactly OUT/internal/:
      every dense.bin tensor and every table row, bit for bit; its manifest's arch
      equals OUT/arch.json
"""
import argparse
import collections
import copy
import json
import os
import struct
import sys

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # callers map 77 to a skipped test
    if __name__ == "__main__":
        print(f"SKIP: /usr/bin/python3 cannot import torch ({e}); install python3-torch")
        sys.exit(77)
    raise

NAMINGS = ("torchrec", "dlrmtrain", "intel", "internal")
TABLES_PREFIX = "sparse_arch.embedding_bag_collection.embedding_bags."

# DLRM-v2's lookups per pair of each table (DESIGN.md).
DLRM_V2_HOTNESS = [3, 2, 1, 2, 6, 1, 1, 1, 1, 7, 3, 8, 1, 6, 9, 5, 1, 1, 1, 12, 100, 27, 10, 3, 1, 1]
DLRM_V2_ROWS = [40000000, 39060, 17295, 7424, 20265, 3, 7122, 1543, 63, 40000000, 3067956, 405282, 10, 2209,
                11938, 155, 4, 976, 14, 40000000, 40000000, 40000000, 590152, 12973, 108, 36]


def small_v2_arch(row_cap=1000):
    """dlrm-shard's "small-v2" preset: DLRM-v2's 26 tables capped at row_cap rows, dim 16."""
    return {"dense_features": 13, "dim": 16, "bottom_mlp": [64, 16], "top_mlp": [64, 32, 1],
            "cross_layers": 2, "cross_rank": 8, "table_rows": [min(r, row_cap) for r in DLRM_V2_ROWS],
            "hotness": list(DLRM_V2_HOTNESS)}


def tiny_arch():
    """3 tables, dim 4: X = 16, rank 3 (!= X, so a transposed V or W shows), 2 cross layers."""
    return {"dense_features": 13, "dim": 4, "bottom_mlp": [8, 4], "top_mlp": [6, 5, 1],
            "cross_layers": 2, "cross_rank": 3, "table_rows": [7, 5, 11], "hotness": [2, 1, 3]}


def cross_width(arch):
    return (len(arch["table_rows"]) + 1) * arch["dim"]


class DlrmDcn(torch.nn.Module):
    """The formulas of the module docstring; parameters in plain lists."""

    def __init__(self, arch):
        super().__init__()
        self.arch = dict(arch)
        d = arch["dim"]
        assert arch["bottom_mlp"][-1] == d and arch["top_mlp"][-1] == 1
        x = cross_width(arch)
        r = arch["cross_rank"]
        self.tables = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.empty(rows, d)) for rows in arch["table_rows"]])
        self.bottom = torch.nn.ModuleList(mlp(arch["dense_features"], arch["bottom_mlp"]))
        self.V = torch.nn.ParameterList([torch.nn.Parameter(torch.empty(r, x)) for _ in range(arch["cross_layers"])])
        self.W = torch.nn.ParameterList([torch.nn.Parameter(torch.empty(x, r)) for _ in range(arch["cross_layers"])])
        self.b = torch.nn.ParameterList([torch.nn.Parameter(torch.empty(x)) for _ in range(arch["cross_layers"])])
        self.top = torch.nn.ModuleList(mlp(x, arch["top_mlp"]))

    def forward(self, dense, bags):
        """dense [N, dense_features]; bags[t] = (indices 1-D int64, offsets [N] int64) -> logits [N]."""
        x = dense
        for layer in self.bottom:
            x = torch.relu(layer(x))
        pooled = [F.embedding_bag(idx, table, off, mode="sum") for table, (idx, off) in zip(self.tables, bags)]
        x0 = torch.cat([x] + pooled, dim=1)
        xl = x0
        for v, w, b in zip(self.V, self.W, self.b):
            xl = x0 * (F.linear(F.linear(xl, v), w) + b) + xl
        y = xl
        for i, layer in enumerate(self.top):
            y = layer(y)
            if i + 1 < len(self.top):
                y = torch.relu(y)
        return y.squeeze(1)


def mlp(in_features, widths):
    layers = []
    for out in widths:
        layers.append(torch.nn.Linear(in_features, out))
        in_features = out
    return layers


def build(arch, seed):
    """A DlrmDcn with deterministic weights from `seed`: tables uniform in
    +-sqrt(1/rows), Linear weights normal with std sqrt(2/(in+out)) and biases
    std sqrt(1/out) (the DLRM reference init), V and W Xavier-normal, cross
    biases normal with std 0.1 (TorchRec starts them at 0; non-zero here so
    that a misplaced bias shows)."""
    model = DlrmDcn(arch)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for table in model.tables:
            bound = (1.0 / table.shape[0]) ** 0.5
            table.copy_((torch.rand(table.shape, generator=g) * 2 - 1) * bound)
        for layer in list(model.bottom) + list(model.top):
            out, inp = layer.weight.shape
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * (2.0 / (inp + out)) ** 0.5)
            layer.bias.copy_(torch.randn(layer.bias.shape, generator=g) * (1.0 / out) ** 0.5)
        for p in list(model.V) + list(model.W):
            p.copy_(torch.randn(p.shape, generator=g) * (2.0 / (p.shape[0] + p.shape[1])) ** 0.5)
        for b in model.b:
            b.copy_(torch.randn(b.shape, generator=g) * 0.1)
    return model


def state_dict(model, naming="torchrec"):
    """OrderedDict key -> float32 tensor (detached, contiguous) under `naming` (NAMINGS)."""
    assert naming in NAMINGS, naming
    sd = collections.OrderedDict()
    T = lambda p: p.detach().float().contiguous().clone()  # noqa: E731
    tr, intel, internal = naming in ("torchrec", "dlrmtrain"), naming == "intel", naming == "internal"
    for t, table in enumerate(model.tables):
        key = f"emb_l.{t}.weight" if internal else TABLES_PREFIX + (f"t_cat_{t}" if tr else f"{t}") + ".weight"
        sd[key] = T(table)
    for i, layer in enumerate(model.bottom):
        base = f"bot_l.{2 * i}" if internal else f"dense_arch.model._mlp.{i}._linear" if tr else \
            f"dense_arch.model._mlp.{2 * i}"
        sd[base + ".weight"], sd[base + ".bias"] = T(layer.weight), T(layer.bias)
    for l, (v, w, b) in enumerate(zip(model.V, model.W, model.b)):
        if internal:
            names = (f"cross.{l}.V", f"cross.{l}.W", f"cross.{l}.bias")
        elif tr:
            names = tuple(f"inter_arch.crossnet.{k}.{l}" for k in ("V_kernels", "W_kernels", "bias"))
        else:
            names = tuple(f"inter_arch.crossnet.MLPs.{k}" for k in (f"V{l}.weight", f"W{l}.weight", f"W{l}.bias"))
        for name, p in zip(names, (v, w, b)):
            sd[name] = T(p)
    n = len(model.top)
    for i, layer in enumerate(model.top):
        if internal:
            base = f"top_l.{2 * i}"
        elif tr:
            base = f"over_arch.model.0._mlp.{i}._linear" if i + 1 < n else "over_arch.model.1"
        else:
            base = f"over_arch.model._mlp.{2 * i}"
        sd[base + ".weight"], sd[base + ".bias"] = T(layer.weight), T(layer.bias)
    if naming == "dlrmtrain":
        sd = collections.OrderedDict(("model." + k, v) for k, v in sd.items())
    return sd


def save_npy_dir(sd, path):
    os.makedirs(path, exist_ok=True)
    for k, v in sd.items():
        np.save(os.path.join(path, k + ".npy"), v.numpy())


def save(model, path, form):
    """form: a naming (torch.save of that state_dict, zip) or npy-<naming> (a KEY.npy directory)."""
    if form.startswith("npy-"):
        save_npy_dir(state_dict(model, form[4:]), path)
    else:
        torch.save(state_dict(model, form), path)


def bags_of(sparse):
    """[N, h_t] index arrays -> per table (indices, offsets) with offsets n * h_t."""
    bags = []
    for idx in sparse:
        idx = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        n, h = idx.shape
        bags.append((idx.reshape(-1), torch.arange(n, dtype=torch.int64) * h))
    return bags


def bags_from_lengths(indices, lengths):
    """Per table: flat indices and per-pair bag lengths -> (indices, offsets)."""
    bags = []
    for idx, ln in zip(indices, lengths):
        ln = torch.as_tensor(np.asarray(ln, dtype=np.int64))
        off = torch.cumsum(ln, 0) - ln
        bags.append((torch.as_tensor(np.asarray(idx, dtype=np.int64)), off))
    return bags


def predict(model, dense, sparse, dtype=torch.float32):
    """Click probabilities float [N] (numpy float32): dense float [N, dense_features],
    sparse[t] int [N, h_t] (the dlrm-v2 data layout), computed in `dtype` (float64
    for a reference with rounding far below fp32's)."""
    m = model if dtype == torch.float32 else copy.deepcopy(model).to(dtype)
    with torch.no_grad():
        logits = m(torch.as_tensor(np.asarray(dense)).to(dtype), bags_of(sparse))
        return torch.sigmoid(logits).float().numpy()


def random_batch(arch, n, seed):
    """dense float32 [n, dense_features] (log(x + 3) of small counts, like day_23_dense.npy) and
    per table int32 [n, hotness_t] indices in [0, rows_t)."""
    rng = np.random.default_rng(seed)
    dense = np.log(rng.integers(0, 100, size=(n, arch["dense_features"])) + 3.0).astype(np.float32)
    hot = arch.get("hotness") or [1] * len(arch["table_rows"])
    sparse = [rng.integers(0, rows, size=(n, h)).astype(np.int32) for rows, h in zip(arch["table_rows"], hot)]
    return dense, sparse


# ---- dlrm-shard's model files (dlrm/model/dense_file.h, shard_file.h), read with the standard library.

def read_dense_bin(path):
    """dense.bin -> OrderedDict name -> float32 array (checksums not checked: dlrm-shard verify does)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"DLRMDENS", f"{path}: not a dense.bin"
    _, num, header_bytes = struct.unpack_from("<III", data, 8)
    out = collections.OrderedDict()
    for i in range(num):
        rec = data[64 + 120 * i: 64 + 120 * (i + 1)]
        name = rec[:64].split(b"\0", 1)[0].decode()
        ndim = struct.unpack_from("<I", rec, 64)[0]
        shape = struct.unpack_from("<4q", rec, 72)[:ndim]
        offset, count = struct.unpack_from("<QQ", rec, 104)
        start = header_bytes + offset
        out[name] = np.frombuffer(data, dtype="<f4", count=count, offset=start).reshape(shape).copy()
    return out


def read_tables(model_dir):
    """The tables of an fp32 model directory, reassembled from its shard files -> list of float32 arrays."""
    with open(os.path.join(model_dir, "manifest.json")) as f:
        m = json.load(f)["dlrm_model"]
    assert m["dtype"] == "fp32", "read_tables reads fp32 models only"
    arch = m["arch"]
    tables = [np.full((rows, arch["dim"]), np.nan, dtype=np.float32) for rows in arch["table_rows"]]
    for shard in m["shards"]:
        with open(os.path.join(model_dir, shard["file"]), "rb") as f:
            data = f.read()
        assert data[:8] == b"DLRMSHRD", f"{shard['file']}: not a shard file"
        num_slices, header_bytes = struct.unpack_from("<II", data, 24)
        for s in range(num_slices):
            table, c0, c1, _, r0, r1, stride, offset = struct.unpack_from("<IIIIQQQQ", data, 64 + 48 * s)
            rows = np.frombuffer(data, dtype=np.uint8, count=(r1 - r0) * stride, offset=header_bytes + offset)
            rows = rows.reshape(r1 - r0, stride)[:, :4 * (c1 - c0)].copy().view("<f4")
            tables[table][r0:r1, c0:c1] = rows
    return tables


def predict_numpy_ref(model, dense, sparse):
    """The formulas again, pair by pair in float64 numpy with explicit loops over
    bags: an independent check of DlrmDcn.forward (selftest)."""
    sd = {k: v.double().numpy() for k, v in state_dict(model, "internal").items()}
    arch = model.arch
    nb, nt, nl = len(arch["bottom_mlp"]), len(arch["top_mlp"]), arch["cross_layers"]
    out = []
    for n in range(dense.shape[0]):
        x = dense[n].astype(np.float64)
        for i in range(nb):
            x = np.maximum(sd[f"bot_l.{2 * i}.weight"] @ x + sd[f"bot_l.{2 * i}.bias"], 0.0)
        feats = [x]
        for t, idx in enumerate(sparse):
            pooled = np.zeros(arch["dim"])
            for i in idx[n]:
                pooled += sd[f"emb_l.{t}.weight"][int(i)]
            feats.append(pooled)
        x0 = np.concatenate(feats)
        xl = x0
        for l in range(nl):
            xl = x0 * (sd[f"cross.{l}.W"] @ (sd[f"cross.{l}.V"] @ xl) + sd[f"cross.{l}.bias"]) + xl
        y = xl
        for i in range(nt):
            y = sd[f"top_l.{2 * i}.weight"] @ y + sd[f"top_l.{2 * i}.bias"]
            if i + 1 < nt:
                y = np.maximum(y, 0.0)
        out.append(1.0 / (1.0 + np.exp(-y[0])))
    return np.array(out)


def selftest(seed):
    """DlrmDcn against predict_numpy_ref on both architectures: the float64 module
    to 1e-12 (the same sums in another order: a few ulps of float64), the float32
    module to 1e-5 (float32 rounding, about 6e-8 relative per operation, through
    some hundred operations deep on values of order 1, far below 1e-5)."""
    problems = []
    for name, arch in (("tiny", tiny_arch()), ("small-v2", small_v2_arch())):
        model = build(arch, seed)
        dense, sparse = random_batch(arch, 64, seed + 1)
        want = predict_numpy_ref(model, dense, sparse)
        for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
            m = model if dtype == torch.float32 else copy.deepcopy(model).to(dtype)
            with torch.no_grad():
                got = torch.sigmoid(m(torch.as_tensor(dense).to(dtype), bags_of(sparse))).double().numpy()
            err = float(np.max(np.abs(got - want)))
            print(f"selftest {name} {dtype}: max |p - p_ref| = {err:.3g} (tolerance {tol:g}), "
                  f"p in [{want.min():.3f}, {want.max():.3f}]")
            if not err <= tol:
                problems.append(f"{name} {dtype}: {err} > {tol}")
        if np.ptp(want) < 1e-3:
            problems.append(f"{name}: predictions do not vary ({np.ptp(want)}); the check would be weak")
    return problems


def from_internal(arch, tensors):
    """A DlrmDcn holding `tensors` (internal name -> array, as state_dict(model,
    "internal") or read_dense_bin + read_tables give them)."""
    model = DlrmDcn(arch)
    own = state_dict(model, "internal")
    assert set(own) == set(tensors), f"tensors differ from the arch's: {sorted(set(own) ^ set(tensors))}"
    params = dict(zip(own.keys(), parameters_in_state_dict_order(model)))
    with torch.no_grad():
        for name, p in params.items():
            value = torch.from_numpy(np.array(tensors[name], dtype=np.float32))
            assert tuple(value.shape) == tuple(p.shape), f"{name}: shape {tuple(value.shape)}, expected {tuple(p.shape)}"
            p.copy_(value)
    return model


def parameters_in_state_dict_order(model):
    """The parameters in the order state_dict(model, naming) lists them."""
    out = list(model.tables)
    for layer in model.bottom:
        out += [layer.weight, layer.bias]
    for v, w, b in zip(model.V, model.W, model.b):
        out += [v, w, b]
    for layer in model.top:
        out += [layer.weight, layer.bias]
    return out


def from_model_dir(model_dir):
    """The DlrmDcn of an fp32 dcn model directory written by dlrm-shard (synth or import)."""
    with open(os.path.join(model_dir, "manifest.json")) as f:
        arch = json.load(f)["dlrm_model"]["arch"]
    assert arch.get("interaction") == "dcn", f"{model_dir} is not a dcn model"
    tensors = dict(read_dense_bin(os.path.join(model_dir, "dense.bin")))
    for t, table in enumerate(read_tables(model_dir)):
        tensors[f"emb_l.{t}.weight"] = table
    return from_internal(arch, tensors)


def write_all(out, arch, seed):
    os.makedirs(out, exist_ok=True)
    print(f"dlrm_dcn: seed {seed}, arch {json.dumps(arch)} -> {out}")
    model = build(arch, seed)
    for naming in ("torchrec", "dlrmtrain", "intel"):
        save(model, os.path.join(out, naming + ".pt"), naming)
    for naming in ("torchrec", "intel"):
        save(model, os.path.join(out, "npy_" + naming), "npy-" + naming)
    save(model, os.path.join(out, "internal"), "npy-internal")
    with open(os.path.join(out, "arch.json"), "w") as f:
        json.dump(arch, f)
    with open(os.path.join(out, "done"), "w") as f:
        f.write("ok\n")


def compare(model_dir, out):
    """Problems (strings) between a model directory and OUT/internal, OUT/arch.json."""
    problems = []
    with open(os.path.join(out, "arch.json")) as f:
        arch = json.load(f)
    with open(os.path.join(model_dir, "manifest.json")) as f:
        got = json.load(f)["dlrm_model"]["arch"]
    for k in ("dense_features", "dim", "bottom_mlp", "top_mlp", "cross_layers", "cross_rank", "table_rows"):
        if got.get(k) != arch[k]:
            problems.append(f"arch.{k}: manifest has {got.get(k)}, the PyTorch model {arch[k]}")
    if got.get("interaction") != "dcn":
        problems.append(f"arch.interaction: manifest has {got.get('interaction')}, expected dcn")
    want = {f[:-4]: np.load(os.path.join(out, "internal", f)) for f in os.listdir(os.path.join(out, "internal"))}
    dense = read_dense_bin(os.path.join(model_dir, "dense.bin"))
    for name, values in dense.items():
        if name not in want:
            problems.append(f"dense.bin holds {name}, which the PyTorch model has not")
        elif values.shape != want[name].shape or not np.array_equal(values, want[name]):
            problems.append(f"dense.bin {name} {values.shape} differs from the PyTorch model's {want[name].shape}")
    for name in want:
        if not name.startswith("emb_l.") and name not in dense:
            problems.append(f"dense.bin lacks {name}")
    for t, table in enumerate(read_tables(model_dir)):
        if not np.array_equal(table, want[f"emb_l.{t}.weight"]):
            problems.append(f"table {t} differs from emb_l.{t}.weight of the PyTorch model")
    if not problems:  # the model rebuilt from the directory predicts exactly what the original does
        dense_x, sparse = random_batch(arch, 16, 1)
        a = predict(from_internal(arch, want), dense_x, sparse)
        b = predict(from_model_dir(model_dir), dense_x, sparse)
        if not np.array_equal(a, b):
            problems.append(f"the model rebuilt from {model_dir} predicts differently: max diff {np.abs(a - b).max()}")
    return problems, len(dense)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("out")
    w.add_argument("--arch", default="tiny", choices=["tiny", "small-v2"])
    w.add_argument("--seed", type=int, default=16)
    c = sub.add_parser("compare")
    c.add_argument("model_dir")
    c.add_argument("out")
    t = sub.add_parser("selftest")
    t.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()
    if args.cmd == "selftest":
        print(f"selftest: seed {args.seed}")
        problems = selftest(args.seed)
        for p in problems:
            print("FAIL:", p)
        return 1 if problems else 0
    if args.cmd == "write":
        write_all(args.out, tiny_arch() if args.arch == "tiny" else small_v2_arch(), args.seed)
        return 0
    problems, count = compare(args.model_dir, args.out)
    for p in problems:
        print("MISMATCH:", p)
    if problems:
        return 1
    print(f"ok: {count} dense tensors and every table row equal the PyTorch model's, arch matches")
    return 0


if __name__ == "__main__":
    sys.exit(main())
