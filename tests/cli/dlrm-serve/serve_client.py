#!/usr/bin/python3
"""Clients of dlrm-serve for the tests, built only on libraries this project
did not write: http.client (REST, JSON and the binary-data extension) and
grpcio with stubs that grpc_tools.protoc generates from
cluster/serve/proto/inference.proto (gRPC).

    serve_client.py check-http WORK ENDPOINT_FILE      REST: health, metadata, infer (JSON and binary) vs the reference
    serve_client.py check-grpc WORK ENDPOINT_FILE      gRPC: the same through contents and raw_input_contents
    serve_client.py bad-http WORK ENDPOINT_FILE        REST: malformed requests get 400 naming the problem; still serving
    serve_client.py bad-grpc WORK ENDPOINT_FILE        gRPC: INVALID_ARGUMENT / NOT_FOUND likewise
    serve_client.py concurrent WORK ENDPOINT_FILE      threads on both protocols, each checking its own answers
    serve_client.py body WORK N FILE                   writes a JSON request of samples 0..N-1 (for curl and hey)
    serve_client.py load WORK ENDPOINT_FILE SECONDS OUT  keeps posting until the server goes; counts outcomes in OUT

WORK holds model-table-2/manifest.json, data.bin (MLPerf binary records) and
ref.npy (the single-process _ref reference's predictions), from
tests/cli/dlrm-cluster/setup.sh. Every comparison allows 1e-5: the cluster's
fp32 predictions differ from the _ref kernels' only by summation order
(oneDNN's blocking against plain loops), which stays below 1e-6 on these
sigmoid outputs; 1e-5 is the project's agreement bound.
"""
import concurrent.futures
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time

import numpy as np

TOLERANCE = 1e-5
HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "..", "cluster", "serve", "proto")


def fail(message):
    print("FAIL:", message, file=sys.stderr)
    sys.exit(1)


def arch(work):
    with open(os.path.join(work, "model-table-2", "manifest.json")) as f:
        return json.load(f)["dlrm_model"]["arch"]


def samples(work):
    """dense [N, F] (raw int32 counts, or for dlrm-v2 data float32 features), sparse [N, lookups], reference."""
    a = arch(work)
    features, tables = a["dense_features"], len(a["table_rows"])
    ref = np.load(os.path.join(work, "ref.npy"))
    data_arg = os.path.join(work, "data.arg")
    data = open(data_arg).read().strip() if os.path.exists(data_arg) else os.path.join(work, "data.bin")
    if not data.endswith(".bin"):  # MLPerf's dlrm-v2 files: PREFIX_dense.npy, PREFIX_sparse_multi_hot.npz
        npz = np.load(data + "_sparse_multi_hot.npz")
        sparse = np.concatenate([npz[str(t)] for t in range(tables)], axis=1)
        return np.load(data + "_dense.npy"), sparse, ref
    rec = np.fromfile(data, dtype="<i4").reshape(-1, 1 + features + tables)
    return rec[:, 1:1 + features].copy(), rec[:, 1 + features:].copy(), ref


def dense_datatype(dense, wanted):
    """A dlrm-v2 model takes its transformed features as reals: FP32 stands in for an integer type."""
    return "FP32" if dense.dtype.kind == "f" and wanted.startswith("INT") else wanted


def endpoints(path):
    with open(path) as f:
        return json.load(f)


def connect(address):
    host, port = address.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=60)


def request(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or {})
    res = conn.getresponse()
    return res.status, res.getheaders(), res.read()


def infer_body(dense, sparse, ids, dense_type="INT32", sparse_type="INT64", nested=False, req_id=None):
    n = len(ids)
    dense_type = dense_datatype(dense, dense_type)
    d = dense[ids].tolist() if nested else dense[ids].reshape(-1).tolist()
    s = sparse[ids].tolist() if nested else sparse[ids].reshape(-1).tolist()
    if dense_type == "FP32":
        d = [[float(x) for x in row] for row in d] if nested else [float(x) for x in d]
    body = {"inputs": [
        {"name": "dense", "shape": [n, dense.shape[1]], "datatype": dense_type, "data": d},
        {"name": "sparse", "shape": [n, sparse.shape[1]], "datatype": sparse_type, "data": s}]}
    if req_id is not None:
        body["id"] = req_id
    return json.dumps(body)


def check_close(got, want, what):
    got = np.asarray(got, dtype=np.float32).reshape(-1)
    if got.shape != want.shape:
        fail(f"{what}: {got.shape[0]} predictions, expected {want.shape[0]}")
    diff = float(np.max(np.abs(got - want))) if got.size else 0.0
    if diff > TOLERANCE:
        fail(f"{what}: max |diff| {diff:.3g} against the reference exceeds {TOLERANCE}")
    return diff


def http_infer(conn, dense, sparse, ids, **kw):
    status, _, body = request(conn, "POST", "/v2/models/dlrm/infer", infer_body(dense, sparse, ids, **kw),
                              {"Content-Type": "application/json"})
    if status != 200:
        fail(f"infer of {len(ids)} pairs: HTTP {status}: {body[:300]!r}")
    answer = json.loads(body)
    out = answer["outputs"][0]
    if out["name"] != "probability" or out["datatype"] != "FP32" or out["shape"] != [len(ids), 1]:
        fail(f"unexpected output {json.dumps(out)[:200]}")
    return answer, out["data"]


def binary_infer(conn, dense, sparse, ids):
    """The binary-data extension: JSON header, then the raw inputs; binary output asked for."""
    n = len(ids)
    dense_type = dense_datatype(dense, "INT32")
    d = np.ascontiguousarray(dense[ids], dtype="<i4" if dense_type == "INT32" else "<f4").tobytes()
    s = np.ascontiguousarray(sparse[ids], dtype="<i8").tobytes()
    header = json.dumps({"inputs": [
        {"name": "dense", "shape": [n, dense.shape[1]], "datatype": dense_type, "parameters": {"binary_data_size": len(d)}},
        {"name": "sparse", "shape": [n, sparse.shape[1]], "datatype": "INT64",
         "parameters": {"binary_data_size": len(s)}}],
        "outputs": [{"name": "probability", "parameters": {"binary_data": True}}]}).encode()
    status, headers, body = request(conn, "POST", "/v2/models/dlrm/infer", header + d + s,
                                    {"Inference-Header-Content-Length": str(len(header)),
                                     "Content-Type": "application/octet-stream"})
    if status != 200:
        fail(f"binary infer: HTTP {status}: {body[:300]!r}")
    length = int(dict((k.lower(), v) for k, v in headers)["inference-header-content-length"])
    meta = json.loads(body[:length])
    size = meta["outputs"][0]["parameters"]["binary_data_size"]
    if size != 4 * n or len(body) != length + size:
        fail(f"binary answer: {size} bytes declared, {len(body) - length} sent, {4 * n} expected")
    return np.frombuffer(body[length:], dtype="<f4")


def check_http(work, endpoint_file):
    dense, sparse, ref = samples(work)
    conn = connect(endpoints(endpoint_file)["http"])
    for path, want in [("/v2/health/live", 200), ("/v2/health/ready", 200), ("/v2/models/dlrm/ready", 200),
                       ("/v2/models/dlrm/versions/1/ready", 200), ("/v2", 200)]:
        status, _, body = request(conn, "GET", path)
        if status != want:
            fail(f"GET {path}: {status}, expected {want}: {body[:200]!r}")
    status, _, body = request(conn, "GET", "/v2/models/dlrm")
    meta = json.loads(body)
    a = arch(work)
    inputs = {t["name"]: t for t in meta["inputs"]}
    if status != 200 or meta["name"] != "dlrm" or set(inputs) != {"dense", "sparse"} or \
            inputs["dense"]["shape"] != [-1, a["dense_features"]] or \
            inputs["sparse"]["shape"] != [-1, sum(a.get("hotness", [1] * len(a["table_rows"])))] or \
            meta["outputs"][0]["name"] != "probability":
        fail(f"metadata: {body[:400]!r}")
    worst = 0.0
    for ids, kw in [(list(range(64)), {}), ([5], {"dense_type": "FP32", "sparse_type": "INT32"}),
                    (list(range(100, 357)), {"nested": True, "req_id": "abc-1"}), (list(range(2999, 3000)), {})]:
        answer, data = http_infer(conn, dense, sparse, ids, **kw)
        if kw.get("req_id") and answer.get("id") != kw["req_id"]:
            fail(f"the answer's id {answer.get('id')!r} is not the request's {kw['req_id']!r}")
        worst = max(worst, check_close(data, ref[ids], f"REST {len(ids)} pairs {kw}"))
    ids = list(range(200, 456))
    worst = max(worst, check_close(binary_infer(conn, dense, sparse, ids), ref[ids], "REST binary extension"))
    print(f"REST: every answer within {worst:.2g} of the reference")


def grpc_modules():
    """Stubs generated from the project's .proto by grpc_tools (not our code), as the benchmark's client does."""
    sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "tools", "bench"))
    import grpc_load
    return grpc_load.stubs(PROTO_DIR)


def grpc_request(pb, dense, sparse, ids, raw=False, req_id=""):
    n = len(ids)
    req = pb.ModelInferRequest(model_name="dlrm", id=req_id)
    dense_type = dense_datatype(dense, "INT32" if raw else "FP32")
    d = req.inputs.add(name="dense", datatype=dense_type, shape=[n, dense.shape[1]])
    s = req.inputs.add(name="sparse", datatype="INT64", shape=[n, sparse.shape[1]])
    if raw:
        req.raw_input_contents.append(
            np.ascontiguousarray(dense[ids], dtype="<i4" if dense_type == "INT32" else "<f4").tobytes())
        req.raw_input_contents.append(np.ascontiguousarray(sparse[ids], dtype="<i8").tobytes())
    else:
        d.contents.fp32_contents.extend(dense[ids].reshape(-1).astype(np.float32).tolist())
        s.contents.int64_contents.extend(sparse[ids].reshape(-1).tolist())
    return req


def grpc_probabilities(answer):
    out = answer.outputs[0]
    if out.name != "probability" or out.datatype != "FP32" or list(out.shape)[1:] != [1]:
        fail(f"gRPC output {out}")
    if answer.raw_output_contents:
        return np.frombuffer(answer.raw_output_contents[0], dtype="<f4")
    return np.asarray(out.contents.fp32_contents, dtype=np.float32)


def check_grpc(work, endpoint_file):
    grpc, pb, pbg = grpc_modules()
    dense, sparse, ref = samples(work)
    channel = grpc.insecure_channel(endpoints(endpoint_file)["grpc"])
    stub = pbg.GRPCInferenceServiceStub(channel)
    if not stub.ServerLive(pb.ServerLiveRequest()).live or not stub.ServerReady(pb.ServerReadyRequest()).ready:
        fail("gRPC: server not live or not ready")
    if not stub.ModelReady(pb.ModelReadyRequest(name="dlrm")).ready:
        fail("gRPC: model not ready")
    meta = stub.ModelMetadata(pb.ModelMetadataRequest(name="dlrm"))
    if meta.name != "dlrm" or [t.name for t in meta.inputs] != ["dense", "sparse"]:
        fail(f"gRPC metadata {meta}")
    if stub.ServerMetadata(pb.ServerMetadataRequest()).name != "dlrm-serve":
        fail("gRPC server metadata")
    worst = 0.0
    for ids, raw in [(list(range(64)), False), (list(range(64, 320)), True), ([7], True), ([8], False)]:
        answer = stub.ModelInfer(grpc_request(pb, dense, sparse, ids, raw=raw, req_id=f"q{ids[0]}"))
        if answer.id != f"q{ids[0]}" or answer.model_name != "dlrm":
            fail(f"gRPC answer names {answer.model_name!r} / {answer.id!r}")
        if raw and not answer.raw_output_contents:
            fail("gRPC: a raw request was not answered in raw_output_contents")
        worst = max(worst, check_close(grpc_probabilities(answer), ref[ids], f"gRPC {len(ids)} pairs raw={raw}"))
    print(f"gRPC: every answer within {worst:.2g} of the reference")


def tensor(name, shape, datatype, data):
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def bad_http_cases(tables, rows):
    dense = tensor("dense", [1, 13], "INT32", [1] * 13)
    sparse = tensor("sparse", [1, tables], "INT64", [0] * tables)
    out_of_range = dict(sparse, data=[0] * (tables - 1) + [rows[-1]])
    return [
        ("not JSON", "{inputs: [", "not valid JSON"),
        ("no inputs", json.dumps({"id": "x"}), "inputs"),
        ("unknown input", json.dumps({"inputs": [dense, sparse, tensor("wide", [1, 1], "FP32", [0.5])]}), "'wide'"),
        ("missing input", json.dumps({"inputs": [dense]}), "'sparse'"),
        ("wrong shape", json.dumps({"inputs": [dense, dict(sparse, shape=[1, tables - 1])]}), "'sparse'"),
        ("wrong datatype", json.dumps({"inputs": [dict(dense, datatype="BOOL"), sparse]}), "BOOL"),
        ("too few values", json.dumps({"inputs": [dict(dense, data=[1] * 12), sparse]}), "'dense'"),
        ("string value", json.dumps({"inputs": [dict(dense, data=["1"] * 13), sparse]}), "'dense'"),
        ("index out of range", json.dumps({"inputs": [dense, out_of_range]}), "outside"),
        ("negative index", json.dumps({"inputs": [dense, dict(sparse, data=[-1] + [0] * (tables - 1))]}), "'sparse'"),
        ("rows disagree", json.dumps({"inputs": [dict(dense, shape=[2, 13], data=[1] * 26), sparse]}), "rows"),
        ("unknown output", json.dumps({"inputs": [dense, sparse], "outputs": [{"name": "logit"}]}), "'logit'"),
    ]


def bad_http(endpoint_file, work):
    a = arch(work)
    conn = connect(endpoints(endpoint_file)["http"])
    cases = bad_http_cases(len(a["table_rows"]), a["table_rows"])
    for what, body, needle in cases:
        status, _, answer = request(conn, "POST", "/v2/models/dlrm/infer", body, {"Content-Type": "application/json"})
        try:
            message = json.loads(answer)["error"]
        except (ValueError, KeyError):
            fail(f"{what}: the answer is not {{\"error\": ...}}: {answer[:200]!r}")
        if status != 400 or needle.lower() not in message.lower():
            fail(f"{what}: HTTP {status} {message!r}; expected 400 naming {needle!r}")
        print(f"  {what}: 400 {message}")
    for path, want in [("/v2/models/other/infer", 404), ("/v2/models/dlrm/versions/9", 404), ("/nothing", 404)]:
        post = path.endswith("infer")
        status, _, answer = request(conn, "POST" if post else "GET", path, "{}" if post else None)
        if status != want or "error" not in json.loads(answer):
            fail(f"{path}: HTTP {status} {answer[:200]!r}; expected {want} with an error")
    # The binary extension with a header length beyond the body.
    status, _, answer = request(conn, "POST", "/v2/models/dlrm/infer", "{}", {"Inference-Header-Content-Length": "99"})
    if status != 400:
        fail(f"header length beyond the body: HTTP {status}")
    dense, sparse, ref = samples(work)
    _, data = http_infer(conn, dense, sparse, [0, 1, 2])
    check_close(data, ref[[0, 1, 2]], "a good request after the bad ones")
    print(f"REST: {len(cases) + 4} bad requests refused with their reasons; still serving")


def bad_grpc(endpoint_file, work):
    grpc, pb, pbg = grpc_modules()
    dense, sparse, ref = samples(work)
    stub = pbg.GRPCInferenceServiceStub(grpc.insecure_channel(endpoints(endpoint_file)["grpc"]))
    good = grpc_request(pb, dense, sparse, [0, 1])
    cases = []
    r = pb.ModelInferRequest(); r.CopyFrom(good); r.inputs[1].shape[:] = [2, sparse.shape[1] + 1]
    cases.append(("wrong shape", r, grpc.StatusCode.INVALID_ARGUMENT, "'sparse'"))
    r = pb.ModelInferRequest(); r.CopyFrom(good); r.inputs[0].name = "wide"
    cases.append(("unknown input", r, grpc.StatusCode.INVALID_ARGUMENT, "'wide'"))
    r = pb.ModelInferRequest(); r.CopyFrom(good); r.inputs[1].contents.int64_contents[0] = 10 ** 9
    cases.append(("index out of range", r, grpc.StatusCode.INVALID_ARGUMENT, "outside"))
    r = pb.ModelInferRequest(); r.CopyFrom(good); r.raw_input_contents.append(b"\0" * 8)
    cases.append(("raw and contents", r, grpc.StatusCode.INVALID_ARGUMENT, "raw"))
    r = pb.ModelInferRequest(); r.CopyFrom(good); r.model_name = "other"
    cases.append(("unknown model", r, grpc.StatusCode.NOT_FOUND, "'other'"))
    for what, req, code, needle in cases:
        try:
            stub.ModelInfer(req)
            fail(f"gRPC {what}: accepted")
        except grpc.RpcError as e:
            if e.code() != code or needle.lower() not in e.details().lower():
                fail(f"gRPC {what}: {e.code()} {e.details()!r}; expected {code} naming {needle!r}")
            print(f"  {what}: {e.code().name} {e.details()}")
    check_close(grpc_probabilities(stub.ModelInfer(good)), ref[[0, 1]], "gRPC after the bad requests")
    print(f"gRPC: {len(cases)} bad requests refused with their reasons; still serving")


def concurrent_clients(work, endpoint_file, threads=8, rounds=12):
    """Clients on both protocols at once, each asking for its own random samples: no answer may carry another's."""
    grpc, pb, pbg = grpc_modules()
    dense, sparse, ref = samples(work)
    ep = endpoints(endpoint_file)
    seed = 5
    print(f"concurrent: {threads} threads x {rounds} requests, seed {seed}")

    def client(k):
        rng = random.Random(seed * 1000 + k)
        conn = connect(ep["http"])
        stub = pbg.GRPCInferenceServiceStub(grpc.insecure_channel(ep["grpc"]))
        for r in range(rounds):
            ids = rng.sample(range(dense.shape[0]), rng.choice([1, 3, 50, 256, 700]))
            if (k + r) % 2:
                _, data = http_infer(conn, dense, sparse, ids)
            else:
                data = grpc_probabilities(stub.ModelInfer(grpc_request(pb, dense, sparse, ids, raw=r % 3 == 0)))
            check_close(data, ref[ids], f"thread {k} request {r} ({len(ids)} pairs)")
        return rounds

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        done = sum(pool.map(client, range(threads)))
    print(f"concurrent: {done} answers, each equal to the reference for its own samples")


def body(work, n, path):
    dense, sparse, _ = samples(work)
    with open(path, "w") as f:
        f.write(infer_body(dense, sparse, list(range(n))))


def load(work, endpoint_file, seconds, out):
    """Posts 64-pair requests from 4 threads until the server stops answering (or SECONDS pass); writes
    {"ok": n, "refused": n, "wrong": n, "errors": [...]}: an answer is wrong when it is 200 but not the reference."""
    dense, sparse, ref = samples(work)
    address = endpoints(endpoint_file)["http"]
    counts = {"ok": 0, "refused": 0, "wrong": 0, "errors": []}
    lock = threading.Lock()
    end = time.time() + seconds

    def client(k):
        ids = list(range(64 * k, 64 * k + 64))
        payload = infer_body(dense, sparse, ids)
        while time.time() < end:
            try:
                conn = connect(address)
                status, _, answer = request(conn, "POST", "/v2/models/dlrm/infer", payload)
                conn.close()
            except OSError as e:  # the server has stopped accepting
                with lock:
                    counts["refused"] += 1
                return
            with lock:
                if status == 200:
                    got = np.asarray(json.loads(answer)["outputs"][0]["data"], dtype=np.float32)
                    counts["ok" if np.max(np.abs(got - ref[ids])) <= TOLERANCE else "wrong"] += 1
                else:
                    counts["errors"].append(f"{status} {answer[:100]!r}")

    workers = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    with open(out, "w") as f:
        json.dump(counts, f)
    print(f"load: {counts['ok']} answered, {counts['refused']} refused at connect, {len(counts['errors'])} errors")


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "check-http":
        check_http(*args)
    elif cmd == "check-grpc":
        check_grpc(*args)
    elif cmd == "bad-http":
        bad_http(args[1], args[0])
    elif cmd == "bad-grpc":
        bad_grpc(args[1], args[0])
    elif cmd == "concurrent":
        concurrent_clients(*args)
    elif cmd == "body":
        body(args[0], int(args[1]), args[2])
    elif cmd == "load":
        load(args[0], args[1], float(args[2]), args[3])
    else:
        fail(f"unknown command {cmd}\n{__doc__}")


if __name__ == "__main__":
    main()
