#!/usr/bin/python3
"""A large DLRM checkpoint for import throughput and memory measurements.

The reference architecture (dim 128, bottom 13-512-256-128, top 479-1024-1024-
512-256-1, 26 tables) with table 0 of ROWS rows (default 4.2M: 2.15 GB) and the
other tables small, written in the format asked for:

  make_big_checkpoint.py OUT FORMAT [--rows N]
     FORMAT  legacy  OUT is a .pt, torch.save(..., _use_new_zipfile_serialization=False)
             zip     OUT is a .pt, torch.save
             npy     OUT is a directory of KEY.npy
             onnx    OUT is a directory: model.onnx + one external-data file per tensor

Values are random (seed 5); the files are large, so delete them afterwards.
"""
import argparse
import collections
import os

import numpy as np
import torch


def state_dict(rows, seed=5):
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()
    table_rows = [rows] + [1000 + 37 * t for t in range(25)]
    for t, r in enumerate(table_rows):
        sd[f"emb_l.{t}.weight"] = torch.rand(r, 128, generator=g) - 0.5
    for prefix, widths in (("bot_l", [13, 512, 256, 128]), ("top_l", [479, 1024, 1024, 512, 256, 1])):
        for i in range(len(widths) - 1):
            sd[f"{prefix}.{2 * i}.weight"] = torch.randn(widths[i + 1], widths[i], generator=g) * 0.05
            sd[f"{prefix}.{2 * i}.bias"] = torch.randn(widths[i + 1], generator=g) * 0.05
    return sd


def save_onnx(sd, out):
    import onnx
    from onnx import TensorProto, helper

    os.makedirs(out, exist_ok=True)
    inits, nodes = [], []
    for k, v in sd.items():
        a = v.numpy()
        with open(os.path.join(out, k), "wb") as f:
            a.tofile(f)
        t = TensorProto()
        t.name = k
        t.data_type = TensorProto.FLOAT
        t.dims.extend(a.shape)
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", k), ("offset", "0"), ("length", str(a.nbytes))):
            e = t.external_data.add()
            e.key, e.value = key, value
        inits.append(t)
        if k.endswith(".weight") and not k.startswith("emb_l"):
            nodes.append(helper.make_node("Gemm", ["x", k, k[:-6] + "bias"], ["y_" + k], transB=1))
    graph = helper.make_graph(nodes, "big_dlrm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 13])],
                              [], initializer=inits)
    with open(os.path.join(out, "model.onnx"), "wb") as f:
        f.write(helper.make_model(graph).SerializeToString())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("format", choices=["legacy", "zip", "npy", "onnx"])
    ap.add_argument("--rows", type=int, default=4_200_000)
    args = ap.parse_args()
    sd = state_dict(args.rows)
    if args.format in ("legacy", "zip"):
        torch.save(sd, args.out, _use_new_zipfile_serialization=args.format == "zip")
    elif args.format == "npy":
        os.makedirs(args.out, exist_ok=True)
        for k, v in sd.items():
            np.save(os.path.join(args.out, k + ".npy"), v.numpy())
    else:
        save_onnx(sd, args.out)
    total = sum(v.numel() * 4 for v in sd.values())
    print(f"wrote {args.out} ({args.format}): {total / 1e9:.2f} GB of fp32 weights")


if __name__ == "__main__":
    main()
