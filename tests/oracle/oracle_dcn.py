#!/usr/bin/python3
"""PyTorch oracle for dlrm-cluster's DLRM-v2 path (the DCNv2 cross network, multi-hot bags).

Builds a DLRM_DCN of dlrm-shard's "small-v2" shape in plain PyTorch
(tests/oracle/dlrm_dcn.py: DLRM-v2's 26 tables capped at 1000 rows with its
hotness, 214 lookups per pair; dim 16; 2 cross layers of rank 8), trains it
for a fixed number of steps on a planted synthetic click task, and writes into
OUT:

  torchrec.pt, dlrmtrain.pt, intel.pt   torch.save (zip) of its state_dict under TorchRec's
                                        keys, DLRMTrain's "model." prefix, Intel's renaming
  npy/                                  one KEY.npy per TorchRec key
  data/day_0_dense.npy                  the test pairs in MLPerf's dlrm-v2 layout: float32
  data/day_0_sparse_multi_hot.npz       [N,13] features already transformed (log(x + 3)),
  data/day_0_labels.npy                 stored entries "0".."25" int32 [N, h_t], int32 [N,1]
  calib/day_0_*                         the first --calib-samples training pairs, same layout
                                        (held out from the test pairs: int8 calibration)
  labels.npy, torch_pred.npy            the test labels and PyTorch's predictions (float32)
  oracle.json                           seeds, sizes, PyTorch's AUC

The planted task: a hidden logistic model over per-row effects summed over
each bag and the dense features. Exit code 77 means "skip": no torch here.

  oracle_dcn.py --out DIR [--seed S] [--samples N] [--train-samples N] [--calib-samples N] [--steps K]
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from dlrm_testlib import auc  # noqa: E402

try:
    import torch
except ImportError as e:  # the caller maps 77 to a skipped test
    print(f"SKIP: /usr/bin/python3 cannot import torch ({e}); install python3-torch")
    sys.exit(77)
sys.path.insert(0, HERE)
import dlrm_dcn  # noqa: E402


def synth_inputs(rng, n, arch, perms):
    """Transformed dense features log(x + 3) of heavy-tailed counts; Zipf-ish bags."""
    mu = np.linspace(0.5, 4.0, arch["dense_features"])
    counts = np.floor(np.exp(mu + 1.2 * rng.standard_normal((n, arch["dense_features"]))))
    counts[rng.random(counts.shape) < 0.25] = 0
    dense = np.log(counts + 3.0).astype(np.float32)
    sparse = []
    for t, (rows, hot) in enumerate(zip(arch["table_rows"], arch["hotness"])):
        rank = np.minimum((rows * rng.random((n, hot)) ** 2.5).astype(np.int64), rows - 1)
        sparse.append(perms[t][rank].astype(np.int32))
    return dense, sparse


def write_day(path, dense, sparse, labels):
    """MLPerf's dlrm-v2 files for day 0 under directory `path` (np.savez stores entries uncompressed)."""
    os.makedirs(path, exist_ok=True)
    np.save(os.path.join(path, "day_0_dense.npy"), dense)
    np.savez(os.path.join(path, "day_0_sparse_multi_hot.npz"), **{str(t): s for t, s in enumerate(sparse)})
    np.save(os.path.join(path, "day_0_labels.npy"), labels.reshape(-1, 1).astype(np.int32))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--samples", type=int, default=8192, help="test pairs written")
    ap.add_argument("--train-samples", type=int, default=32768)
    ap.add_argument("--calib-samples", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=250, help="training steps of batch 256")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print(f"oracle_dcn: seed {args.seed}, torch {torch.__version__}, numpy {np.__version__}")
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)  # deterministic reductions
    rng = np.random.default_rng(args.seed)
    arch = dlrm_dcn.small_v2_arch()
    perms = [rng.permutation(r) for r in arch["table_rows"]]
    effect = [rng.normal(0.0, 0.5 if t % 3 == 0 else 0.2, r) for t, r in enumerate(arch["table_rows"])]
    weight = rng.normal(0.0, 0.35, arch["dense_features"])

    def labels_for(dense, sparse):
        logit = (dense.astype(np.float64) - 2.0) @ weight - 1.0
        for t, bag in enumerate(sparse):
            logit += effect[t][bag].sum(axis=1) / np.sqrt(bag.shape[1])
        return (rng.random(len(dense)) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int32)

    train_dense, train_sparse = synth_inputs(rng, args.train_samples, arch, perms)
    train_labels = labels_for(train_dense, train_sparse)
    test_dense, test_sparse = synth_inputs(rng, args.samples, arch, perms)
    test_labels = labels_for(test_dense, test_sparse)

    model = dlrm_dcn.build(arch, args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=0.005)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    start = time.time()
    batch = 256
    loss = torch.tensor(0.0)
    for step in range(args.steps):
        b = (step * batch) % (args.train_samples - batch)
        opt.zero_grad()
        logits = model(torch.from_numpy(train_dense[b:b + batch]),
                       dlrm_dcn.bags_of([s[b:b + batch] for s in train_sparse]))
        loss = loss_fn(logits, torch.from_numpy(train_labels[b:b + batch].astype(np.float32)))
        loss.backward()
        opt.step()
    model.eval()
    train_seconds = time.time() - start

    pred = dlrm_dcn.predict(model, test_dense, test_sparse)
    test_auc = auc(pred, test_labels)
    print(f"oracle_dcn: trained {args.steps} steps in {train_seconds:.1f} s, final loss {loss.item():.4f}; "
          f"test AUC {test_auc:.6f} on {args.samples} pairs (label rate {test_labels.mean():.3f})")

    for form in ("torchrec", "dlrmtrain", "intel"):
        dlrm_dcn.save(model, os.path.join(args.out, form + ".pt"), form)
    dlrm_dcn.save(model, os.path.join(args.out, "npy"), "npy-torchrec")
    write_day(os.path.join(args.out, "data"), test_dense, test_sparse, test_labels)
    calib = min(args.calib_samples, args.train_samples)
    write_day(os.path.join(args.out, "calib"), train_dense[:calib], [s[:calib] for s in train_sparse],
              train_labels[:calib])
    np.save(os.path.join(args.out, "labels.npy"), test_labels)
    np.save(os.path.join(args.out, "torch_pred.npy"), pred)
    with open(os.path.join(args.out, "oracle.json"), "w") as f:
        json.dump({"seed": args.seed, "samples": args.samples, "steps": args.steps, "auc": test_auc,
                   "label_rate": float(test_labels.mean()), "torch": torch.__version__, "arch": arch,
                   "train_seconds": train_seconds}, f, indent=1)
    print(f"oracle_dcn: wrote {args.out}")


if __name__ == "__main__":
    main()
