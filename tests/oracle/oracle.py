#!/usr/bin/python3
"""PyTorch oracle for dlrm-cluster.

Builds the reference DLRM architecture (DESIGN.md) at a small size, trains it
for a fixed number of steps on a planted synthetic click task, and writes into
OUT:

  model_legacy.pt    legacy serialization (_use_new_zipfile_serialization=False),
                     an MLPerf-style dict: state_dict beside epoch, iter,
                     train_loss (numpy float32), test_auc (numpy float64) and
                     opt_state_dict (Adam state, with tensors)
  model_zip.pt       zip serialization, the bare state_dict
  model_wrapped.pt   zip serialization, {'state_dict': ..., 'epoch': 3}
  npy/               one KEY.npy per state_dict key
  onnx/model.onnx    torch.onnx.export, re-saved with every initializer as an
                     external-data file next to it (size_threshold=0)
  data.bin           the test samples in the MLPerf binary layout
  calib.bin          the first --calib-samples training samples in the same
                     layout: held-out calibration data for int8 MLPs
                     (dlrm-shard calibrate), disjoint from the test samples;
                     cut from the training set already drawn, so it consumes
                     no random numbers and leaves every other output as before
  data.npz           the same samples: dense, sparse, labels, reference
  torch_pred.npy     PyTorch's predictions on them (float32)
  oracle.json        seeds, sizes, PyTorch's AUC

The architecture keeps the reference structure and shrinks widths: 26 tables
(the reference row counts capped at 1000), dim 16, bottom MLP 13-64-32-16
(ReLU after every layer), dot interaction over the strict lower triangle in
row-major order (1,0),(2,0),(2,1),..., top MLP 367-64-64-32-16-1 (ReLU after
each layer but the last, then sigmoid), EmbeddingBag(mode='sum').

Dense features enter as log(max(x, 0) + 1) computed in float64 and rounded to
float32, exactly as dlrm-cluster does. Exit code 77 means "skip": this Python
has no torch.

  oracle.py --out DIR [--seed S] [--samples N] [--train-samples N] [--calib-samples N] [--steps K]
"""
import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from dlrm_testlib import auc  # noqa: E402

try:
    import torch
    import torch.nn as nn
except ImportError as e:  # the caller maps 77 to a skipped test
    print(f"SKIP: /usr/bin/python3 cannot import torch ({e}); install python3-torch")
    sys.exit(77)

REFERENCE_ROWS = [39884406, 39043, 17289, 7420, 20263, 3, 7120, 1543, 63, 38532951, 2953546, 403346, 10, 2208,
                  11938, 155, 4, 976, 14, 39979771, 25641295, 39664984, 585935, 12972, 108, 36]
ROW_CAP = 1000
DIM = 16
DENSE = 13
BOTTOM = [DENSE, 64, 32, DIM]
TOP_HIDDEN = [64, 64, 32, 16, 1]


def mlp(widths, last_sigmoid):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        last = i == len(widths) - 2
        layers.append(nn.Sigmoid() if (last and last_sigmoid) else nn.ReLU())
    return nn.Sequential(*layers)


class DLRM(nn.Module):
    def __init__(self, rows):
        super().__init__()
        self.emb_l = nn.ModuleList([nn.EmbeddingBag(n, DIM, mode="sum") for n in rows])
        features = len(rows) + 1
        top_in = DIM + features * (features - 1) // 2
        self.bot_l = mlp(BOTTOM, last_sigmoid=False)
        self.top_l = mlp([top_in] + TOP_HIDDEN, last_sigmoid=True)
        # strict lower triangle, row-major: (1,0), (2,0), (2,1), (3,0), ...
        self.register_buffer("li", torch.tensor([i for i in range(features) for j in range(i)]), persistent=False)
        self.register_buffer("lj", torch.tensor([j for i in range(features) for j in range(i)]), persistent=False)

    def forward(self, dense, indices, offsets):
        x = self.bot_l(dense)
        ly = [emb(indices[:, t], offsets) for t, emb in enumerate(self.emb_l)]
        batch = dense.shape[0]
        t = torch.cat([x] + ly, dim=1).view(batch, -1, DIM)
        z = torch.bmm(t, torch.transpose(t, 1, 2))
        r = torch.cat([x, z[:, self.li, self.lj]], dim=1)
        return self.top_l(r).view(-1)


def synth_inputs(rng, n, rows, perms):
    """Criteo-like raw inputs: heavy-tailed dense counts (2% are -1), Zipf-ish indices."""
    mu = np.linspace(0.5, 4.0, DENSE)
    dense = np.floor(np.exp(mu + 1.2 * rng.standard_normal((n, DENSE)))).astype(np.int64)
    dense[rng.random((n, DENSE)) < 0.25] = 0
    dense[rng.random((n, DENSE)) < 0.02] = -1
    dense = np.minimum(dense, 2**31 - 1).astype(np.int32)
    sparse = np.empty((n, len(rows)), dtype=np.int32)
    for t, r in enumerate(rows):
        rank = np.minimum((r * rng.random(n) ** 2.5).astype(np.int64), r - 1)
        sparse[:, t] = perms[t][rank]
    return dense, sparse


def transform(dense):
    return np.log1p(np.maximum(dense, 0).astype(np.float64)).astype(np.float32)


def predict(model, dense, sparse, batch=1024):
    out = []
    with torch.no_grad():
        for b in range(0, len(dense), batch):
            d = torch.from_numpy(transform(dense[b:b + batch]))
            s = torch.from_numpy(sparse[b:b + batch].astype(np.int64))
            out.append(model(d, s, torch.arange(len(d))).numpy())
    return np.concatenate(out).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--samples", type=int, default=8192, help="test samples written")
    ap.add_argument("--train-samples", type=int, default=65536)
    ap.add_argument("--calib-samples", type=int, default=8192,
                    help="training samples written to calib.bin (dlrm-shard calibrate needs >= 1024)")
    ap.add_argument("--steps", type=int, default=300, help="training steps of batch 256")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print(f"oracle: seed {args.seed}, torch {torch.__version__}, numpy {np.__version__}")
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # deterministic reductions
    rng = np.random.default_rng(args.seed)
    rows = [min(r, ROW_CAP) for r in REFERENCE_ROWS]
    perms = [rng.permutation(r) for r in rows]

    # The planted task: a hidden logistic model over per-row effects and log counts.
    effect = [rng.normal(0.0, 0.8 if t % 3 == 0 else 0.3, r) for t, r in enumerate(rows)]
    weight = rng.normal(0.0, 0.35, DENSE)

    def labels_for(dense, sparse):
        logit = transform(dense).astype(np.float64) @ weight - 1.6
        for t in range(len(rows)):
            logit += effect[t][sparse[:, t]]
        return (rng.random(len(dense)) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int32)

    train_dense, train_sparse = synth_inputs(rng, args.train_samples, rows, perms)
    train_labels = labels_for(train_dense, train_sparse)
    test_dense, test_sparse = synth_inputs(rng, args.samples, rows, perms)
    test_labels = labels_for(test_dense, test_sparse)

    model = DLRM(rows)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = nn.BCELoss()
    td = torch.from_numpy(transform(train_dense))
    ts = torch.from_numpy(train_sparse.astype(np.int64))
    tl = torch.from_numpy(train_labels.astype(np.float32))
    start = time.time()
    batch = 256
    loss = torch.tensor(0.0)
    for step in range(args.steps):
        b = (step * batch) % (args.train_samples - batch)
        opt.zero_grad()
        p = model(td[b:b + batch], ts[b:b + batch], torch.arange(batch))
        loss = loss_fn(p, tl[b:b + batch])
        loss.backward()
        opt.step()
    model.eval()
    train_seconds = time.time() - start

    pred = predict(model, test_dense, test_sparse)
    test_auc = auc(pred, test_labels)
    print(f"oracle: trained {args.steps} steps in {train_seconds:.1f} s, final loss {loss.item():.4f}; "
          f"test AUC {test_auc:.6f} on {args.samples} samples (label rate {test_labels.mean():.3f})")

    sd = model.state_dict()
    torch.save(sd, os.path.join(args.out, "model_zip.pt"))
    torch.save({"state_dict": sd, "epoch": 3}, os.path.join(args.out, "model_wrapped.pt"))
    torch.save({"epoch": 0, "iter": args.steps, "nbatches": args.steps, "state_dict": sd,
                "train_loss": np.float32(loss.item()), "test_auc": np.float64(test_auc),
                "opt_state_dict": opt.state_dict()},
               os.path.join(args.out, "model_legacy.pt"), _use_new_zipfile_serialization=False)
    os.makedirs(os.path.join(args.out, "npy"), exist_ok=True)
    for k, v in sd.items():
        np.save(os.path.join(args.out, "npy", k + ".npy"), v.numpy())

    import onnx
    onnx_dir = os.path.join(args.out, "onnx")
    shutil.rmtree(onnx_dir, ignore_errors=True)  # onnx.save_model appends to existing external files
    os.makedirs(onnx_dir)
    inline = os.path.join(args.out, "model_inline.onnx")
    example = (torch.from_numpy(transform(test_dense[:4])), torch.from_numpy(test_sparse[:4].astype(np.int64)),
               torch.arange(4))
    torch.onnx.export(model, example, inline, opset_version=13, input_names=["dense", "indices", "offsets"],
                      output_names=["prediction"])
    proto = onnx.load(inline)
    onnx.save_model(proto, os.path.join(onnx_dir, "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=False, size_threshold=0)
    os.remove(inline)

    records = np.concatenate([test_labels[:, None], test_dense, test_sparse], axis=1).astype(np.int32)
    records.tofile(os.path.join(args.out, "data.bin"))
    calib = min(args.calib_samples, args.train_samples)
    records = np.concatenate([train_labels[:calib, None], train_dense[:calib], train_sparse[:calib]],
                             axis=1).astype(np.int32)
    records.tofile(os.path.join(args.out, "calib.bin"))
    np.savez(os.path.join(args.out, "data.npz"), dense=test_dense, sparse=test_sparse, labels=test_labels,
             reference=pred)
    np.save(os.path.join(args.out, "torch_pred.npy"), pred)
    with open(os.path.join(args.out, "oracle.json"), "w") as f:
        json.dump({"seed": args.seed, "samples": args.samples, "steps": args.steps, "auc": test_auc,
                   "label_rate": float(test_labels.mean()), "torch": torch.__version__,
                   "train_seconds": train_seconds}, f, indent=1)
    print(f"oracle: wrote {args.out}")


if __name__ == "__main__":
    main()
