#!/usr/bin/python3
"""Writes the seed corpora of fuzz.serve_http and fuzz.serve_grpc.

  /usr/bin/python3 tests/fuzz/make_serve_seeds.py    (Debian's python3-protobuf)

Run once; the seeds are committed (corpus/serve_http, corpus/serve_grpc). They
fit the fuzzers' model: 2 dense features, 2 tables of 4 and 100000 rows. An
HTTP seed whose first line is a number is a header length and a body (the
binary-data extension); the gRPC seeds are serialized ModelInferRequest
messages, built with stubs that protoc generates into a temporary directory.
"""
import importlib
import json
import pathlib
import struct
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
PROTO_DIR = HERE.parent.parent / "cluster" / "serve" / "proto"


def tensor(name, datatype, rows, data, **extra):
    t = {"name": name, "datatype": datatype, "shape": [rows, 2]}
    if data is not None:
        t["data"] = data
    t.update(extra)
    return t


def body(inputs, **extra):
    return json.dumps({"inputs": inputs, **extra}, separators=(",", ":")).encode()


def with_binary(json_bytes, binary):
    return str(len(json_bytes)).encode() + b"\n" + json_bytes + binary


def http_seeds():
    dense = tensor("dense", "INT64", 2, [1, 2, 3, 4])
    sparse = tensor("sparse", "INT64", 2, [0, 5, 3, 99999])
    binary_dense = tensor("dense", "FP32", 2, None, parameters={"binary_data_size": 16})
    binary_sparse = tensor("sparse", "INT32", 2, None, parameters={"binary_data_size": 16})
    return {
        "flat.json": body([dense, sparse], id="a"),
        "nested_fp32.json": body([tensor("sparse", "INT32", 1, [[1, 2]]), tensor("dense", "FP32", 1, [[0.5, 1e3]])],
                                 outputs=[{"name": "probability", "parameters": {"binary_data": True}}]),
        "fp64_binary_output.json": body([tensor("dense", "FP64", 2, [0.25, -1, 7, 1e-3]), sparse],
                                        parameters={"binary_data_output": True}),
        "binary.bin": with_binary(body([binary_dense, binary_sparse]),
                                  struct.pack("<4f", 1, 2.5, 0, 9) + struct.pack("<4i", 0, 1, 3, 42)),
        "binary_one_input.bin": with_binary(body([dense, binary_sparse]), struct.pack("<4i", 3, 99999, 0, 0)),
        "bad_index.json": body([dense, tensor("sparse", "INT64", 2, [4, 0, 0, 0])]),
        "bad_shape.json": body([tensor("dense", "INT64", 2, [1, 2, 3]), sparse]),
        "bad_binary_size.bin": with_binary(body([binary_dense, sparse]), struct.pack("<3f", 1, 2, 3)),
        # A lone surrogate escape: rapidjson decodes it to bytes that are not UTF-8 (found by the fuzzer).
        "bad_surrogate_name.json": b'{"inputs":[{"name":"sp\\uDDDDarse","datatype":"INT64"}]}',
        "bad_json.json": b'{"inputs":[{"name":"dense","datatype":"INT64","shape":[1,2],"data":[1,',
    }


def grpc_seeds(pb):
    def request(dense_type="INT64", sparse_type="INT32", raw=False, name="dlrm"):
        m = pb.ModelInferRequest(model_name=name, id="g")
        dense = m.inputs.add(name="dense", datatype=dense_type, shape=[2, 2])
        sparse = m.inputs.add(name="sparse", datatype=sparse_type, shape=[2, 2])
        counts, indices = [1, 2, 3, 4], [0, 5, 3, 99999]
        if raw:
            fmt = {"INT32": "<4i", "INT64": "<4q", "FP32": "<4f", "FP64": "<4d"}
            m.raw_input_contents.append(struct.pack(fmt[dense_type], *counts))
            m.raw_input_contents.append(struct.pack(fmt[sparse_type], *indices))
            return m
        field = {"INT32": "int_contents", "INT64": "int64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents"}
        getattr(dense.contents, field[dense_type]).extend(counts)
        getattr(sparse.contents, field[sparse_type]).extend(indices)
        m.outputs.add(name="probability")
        return m

    bad_index = request()
    bad_index.inputs[1].contents.int_contents[0] = 4
    return {
        "contents_int.pb": request(),
        "contents_fp64.pb": request("FP64", "INT64"),
        "raw_fp32.pb": request("FP32", "INT64", raw=True),
        "raw_int32.pb": request("INT32", "INT32", raw=True),
        "bad_model.pb": request(name="other"),
        "bad_index.pb": bad_index,
    }


def main():
    for name, data in http_seeds().items():
        (HERE / "corpus" / "serve_http" / name).parent.mkdir(parents=True, exist_ok=True)
        (HERE / "corpus" / "serve_http" / name).write_bytes(data)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["protoc", f"--python_out={tmp}", "-I", str(PROTO_DIR), "inference.proto"], check=True)
        sys.path.insert(0, tmp)
        pb = importlib.import_module("inference_pb2")
        out = HERE / "corpus" / "serve_grpc"
        out.mkdir(parents=True, exist_ok=True)
        for name, message in grpc_seeds(pb).items():
            (out / name).write_bytes(message.SerializeToString())


if __name__ == "__main__":
    main()
