#!/usr/bin/python3
"""Quantized serving of the trained PyTorch oracle model against fp32 (issue 7).

  quantized.py BIN WORK

Imports WORK/torch/npy (written by oracle.py) with dlrm-shard at fp32, fp16,
int8 and int4 tables (2 shards, table plan), calibrates each model's int8 MLPs
on WORK/torch/calib.bin (held-out training samples, never the test samples),
and serves the test samples (WORK/torch/data.bin) with 3 ranks (2 shard +
1 dense) for every table type x {fp32, int8} MLPs: 8 runs. It prints the
table of AUCs and relative losses (1 - AUC / AUC of the fp32/fp32 run), writes
it to WORK/quantized/table.json, and fails unless

- every run stays within its budget (BUDGETS below: the goals of issue 7),
  both by the cluster's own check (--reference PyTorch's fp32 predictions,
  --auc-budget, exit 0 and auc_within_budget) and by the losses recomputed
  here from the predictions (tests/support's exact AUC), and the two agree;
- the fp32/fp32 run equals PyTorch (check.py: predictions within 1e-5, AUC
  within 1e-6);
- int4 tables with --auc-budget 1e-6, far below their measured loss, exit 3
  with an error naming both AUCs (the budget check can fail).

Exit 77 (skip) without oracle output. BIN holds dlrm-shard and dlrm-cluster;
MPIEXEC (default mpiexec) and the Open MPI variables of tools/mpi-env.sh come
from the environment.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from dlrm_testlib import auc, budget_exceeded_problem, mlperf_labels, relative_auc_loss  # noqa: E402

TABLES = ["fp32", "fp16", "int8", "int4"]
MLPS = ["fp32", "int8"]
SHARDS, RANKS = 2, 3  # table plan: 2 shard ranks + 1 dense rank
CALIBRATION = "mse"  # dlrm-shard calibrate's default method, named explicitly

# Allowed relative AUC loss (1 - AUC / AUC_fp32) per (tables, MLPs), with where it comes from.
BUDGETS = {
    # check.py's tolerance: |AUC - PyTorch's AUC| <= 1e-6, i.e. at most 2e-6
    # relative for any AUC >= 0.5 (check.py itself is run on this cell too).
    ("fp32", "fp32"): (2e-6, "equals PyTorch (check.py)"),
    # Issue 7 states no goal for these two cells; each is less quantized than
    # int8 tables + int8 MLPs (goal 0.1%), so that goal bounds them too.
    ("fp32", "int8"): (1e-3, "implied by issue 7's int8 + int8 MLP goal (0.1%)"),
    ("fp16", "int8"): (1e-3, "implied by issue 7's fp16 and int8 + int8 MLP goals (0.1%)"),
    # Issue 7's goals.
    ("fp16", "fp32"): (1e-3, "issue 7: fp16 tables <= 0.1%"),
    ("int8", "fp32"): (1e-3, "issue 7: int8 tables, fp32 MLPs <= 0.1%"),
    ("int8", "int8"): (1e-3, "issue 7: int8 tables + int8 MLPs <= 0.1%"),
    ("int4", "fp32"): (1e-2, "issue 7: int4 tables <= 1%"),
    ("int4", "int8"): (1e-2, "issue 7: int4 tables (int8 MLPs) <= 1%"),
}
# The int8 throughput configuration (dlrm-bench's best int8 ratio) is checked
# against the int8 + int8 goal too: 16-bit rows and bf16 interaction products.
THROUGHPUT = ("--exchange-dtype", "bf16", "--interaction", "bf16")
# The negative check: int4 tables lose about 3e-5 on the oracle model, 30x this.
EXCEEDED_BUDGET = 1e-6
REPORT_DIGITS = 1e-9  # the report's JSON keeps 9 decimals


def sh(cmd, log=None, env=None):
    """Runs cmd; returns (exit code, output). Output goes to log if given."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if log:
        with open(log, "w") as f:
            f.write(p.stdout)
    return p.returncode, p.stdout


def must(cmd, log=None, env=None):
    code, out = sh(cmd, log, env)
    if code != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {code}:\n{out[-3000:]}")
    return out


def errors(log):
    """What a failed run said: its log without [info] lines and mpiexec's banner."""
    lines = log.splitlines()
    banner = next((i for i, x in enumerate(lines) if x.startswith("-----")), len(lines))
    return "\n".join([x for x in lines[:banner] if "] [info] " not in x] or lines[-8:])


def main():
    bin_dir, work = sys.argv[1:3]
    torch_dir = os.path.join(work, "torch")
    if not os.path.isfile(os.path.join(torch_dir, "oracle.json")):
        print(f"SKIP: no oracle output in {torch_dir} (oracle.setup needs /usr/bin/python3 with torch)")
        sys.exit(77)
    calib = os.path.join(torch_dir, "calib.bin")
    if not os.path.isfile(calib):
        sys.exit(f"FAIL: {calib} is missing: the oracle output predates oracle.py's calibration samples; rerun oracle.py")
    oracle = json.load(open(os.path.join(torch_dir, "oracle.json")))
    data = os.path.join(torch_dir, "data.bin")
    torch_pred_path = os.path.join(torch_dir, "torch_pred.npy")
    labels = mlperf_labels(data)
    calib_samples = len(mlperf_labels(calib))
    torch_auc = auc(np.load(torch_pred_path), labels)
    out = os.path.join(work, "quantized")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    mpiexec = os.environ.get("MPIEXEC") or "mpiexec"
    shard, cluster = os.path.join(bin_dir, "dlrm-shard"), os.path.join(bin_dir, "dlrm-cluster")
    start = time.time()

    for tables in TABLES:
        model = os.path.join(out, f"model-{tables}")
        must([shard, "import", "--from", os.path.join(torch_dir, "npy"), "--shards", str(SHARDS), "--plan", "table",
              "--dtype", tables, "--out", model, "--force", "--no-progress"], env=env)
        # int8 MLPs need activation ranges, recorded on held-out training samples.
        must([shard, "calibrate", "--model", model, "--data", calib, "--samples", str(calib_samples),
              "--method", CALIBRATION], env=env)

    def serve(name, tables, mlp, budget, extra=()):
        code, log = sh([mpiexec, "-n", str(RANKS), cluster, "--model", os.path.join(out, f"model-{tables}"),
                        "--data", data, "--threads", "1", "--batch", "256", "--mlp", mlp, "--quiet", *extra,
                        "--reference", torch_pred_path, "--auc-budget", repr(budget),
                        "--out", os.path.join(out, name + ".npy"), "--report", os.path.join(out, name + ".json")],
                       os.path.join(out, name + ".log"), env)
        return code, log

    failures = []
    runs = {}
    cells_to_run = [(tables, mlp, ()) for tables in TABLES for mlp in MLPS] + [("int8", "int8", THROUGHPUT)]
    for tables, mlp, extra in cells_to_run:
        name = f"{tables}_tables_{mlp}_mlp" + ("_bf16_exchange_interaction" if extra else "")
        budget, goal = BUDGETS[(tables, mlp)]
        code, log = serve(name, tables, mlp, budget, extra)
        if code != 0:
            failures.append(f"{name}: dlrm-cluster exited {code} (budget {budget:g}, {goal}):\n{errors(log)}")
        if not os.path.isfile(os.path.join(out, name + ".json")):
            continue  # a run that exceeds its budget (exit 3) still writes its report: it enters the table
        report = json.load(open(os.path.join(out, name + ".json")))
        pred = np.load(os.path.join(out, name + ".npy"))
        own = auc(pred, labels)
        runs[(tables, mlp, extra)] = dict(report=report, auc=own, budget=budget, goal=goal, name=name)
        problems = []
        if report.get("dtype") != tables or report.get("mlp") != mlp or report.get("pairs") != len(labels):
            problems.append(f"report says {report.get('dtype')} tables, {report.get('mlp')} MLPs, "
                            f"{report.get('pairs')} pairs")
        if report.get("auc") is None or abs(report["auc"] - own) > REPORT_DIGITS:
            problems.append(f"report AUC {report.get('auc')}, the predictions give {own:.9f}")
        if report.get("reference_auc") is None or abs(report["reference_auc"] - torch_auc) > REPORT_DIGITS:
            problems.append(f"report reference AUC {report.get('reference_auc')}, PyTorch's is {torch_auc:.9f}")
        # The cluster's verdict, recomputed here with the same rule (AUC >= (1 - budget) x reference AUC).
        verdict = own >= (1.0 - budget) * torch_auc
        if report.get("auc_within_budget") is not True or not verdict:
            problems.append(f"budget {budget:g} vs PyTorch's AUC: cluster says "
                            f"{report.get('auc_within_budget')}, recomputed {verdict}")
        if problems:
            failures.append(f"{name}: " + "; ".join(problems))

    # The fp32/fp32 run is PyTorch's model: the oracle's own check.
    base = runs.get(("fp32", "fp32", ()))
    if base:
        code, log = sh([sys.executable, os.path.join(HERE, "check.py"), os.path.join(out, base["name"] + ".npy"),
                        os.path.join(out, base["name"] + ".json"), torch_dir])
        print(f"fp32/fp32 vs PyTorch (check.py): {log.strip()}")
        if code != 0:
            failures.append("fp32_tables_fp32_mlp: check.py failed")
    else:
        failures.append("no fp32/fp32 run to measure the losses against")

    # The losses against the fp32/fp32 run, each against its goal.
    cells = []
    for (tables, mlp, extra), run in runs.items():
        loss = relative_auc_loss(run["auc"], base["auc"]) if base else None
        cells.append(dict(tables=tables, mlp=mlp, options=" ".join(extra), auc=run["auc"], relative_loss=loss,
                          budget=run["budget"],
                          goal=run["goal"], cluster_within_budget=run["report"].get("auc_within_budget"),
                          max_abs_diff_vs_torch=run["report"].get("reference_max_abs_diff")))
        if loss is not None and not loss <= run["budget"]:
            failures.append(f"{run['name']}: relative AUC loss {loss:.3e} vs the fp32/fp32 run exceeds "
                            f"{run['budget']:g} ({run['goal']})")

    # An exceeded budget must fail the run: int4 tables against a budget far below their loss.
    code, log = serve("int4_exceeded", "int4", "fp32", EXCEEDED_BUDGET)
    exceeded_auc = auc(np.load(os.path.join(out, "int4_exceeded.npy")), labels) \
        if os.path.isfile(os.path.join(out, "int4_exceeded.npy")) else float("nan")
    problem = budget_exceeded_problem(code, log, exceeded_auc, torch_auc)
    line = next((x.strip() for x in log.splitlines() if "accuracy budget exceeded" in x), "")
    if problem:
        failures.append(f"int4 tables, --auc-budget {EXCEEDED_BUDGET:g}: {problem}\n{errors(log)}")
    else:
        print(f"int4 tables, --auc-budget {EXCEEDED_BUDGET:g}: exit {code} as required: "
              f"{line[line.find('accuracy budget'):]}")
    seconds = time.time() - start

    # The table.
    print(f"\nRelative AUC loss of quantized serving on the PyTorch oracle model (seed {oracle['seed']}, "
          f"{oracle['steps']} training steps), {len(labels)} test samples, {SHARDS} shard + {RANKS - SHARDS} dense "
          f"ranks; int8 MLPs calibrated ({CALIBRATION}) on {calib_samples} held-out training samples.")
    print(f"loss = 1 - AUC / AUC(fp32 tables, fp32 MLPs); PyTorch's AUC {torch_auc:.9f}\n")
    by_cell = {(c["tables"], c["mlp"]): c for c in cells if not c["options"]}
    print((f"{'tables':<8}" + "".join(f"{m + ' MLPs':<42}" for m in MLPS)).rstrip())
    for tables in TABLES:
        row = f"{tables:<8}"
        for mlp in MLPS:
            c = by_cell.get((tables, mlp))
            if c is None:
                row += f"{'(failed)':<42}"
            else:
                ok = c["relative_loss"] is not None and c["relative_loss"] <= c["budget"]
                cell = f"AUC {c['auc']:.6f}  loss {100 * (c['relative_loss'] or 0):+.4f}% (<= {100 * c['budget']:g}%{'' if ok else ' FAIL'})"
                row += f"{cell:<42}"
        print(row.rstrip())
    for c in cells:
        if c["options"]:
            print(f"{c['tables']} tables, {c['mlp']} MLPs, {c['options']}: AUC {c['auc']:.6f}  loss "
                  f"{100 * (c['relative_loss'] or 0):+.4f}% (<= {100 * c['budget']:g}%)")

    table = dict(seed=oracle["seed"], steps=oracle["steps"], test_samples=len(labels), calibration_samples=calib_samples,
                 calibration_method=CALIBRATION, shards=SHARDS, ranks=RANKS, torch_auc=torch_auc,
                 baseline_auc=base["auc"] if base else None, cells=cells,
                 exceeded=dict(tables="int4", mlp="fp32", auc_budget=EXCEEDED_BUDGET, exit=code, auc=exceeded_auc,
                               error=line[line.find("accuracy budget"):] if line else None, problem=problem),
                 seconds=seconds, failures=failures)
    with open(os.path.join(out, "table.json"), "w") as f:
        json.dump(table, f, indent=1)
    print(f"\n{len(cells_to_run) + 1} cluster runs in {seconds:.1f} s; table written to "
          f"{os.path.join(out, 'table.json')}")
    if failures:
        print("\n".join(f"FAIL {x}" for x in failures))
        sys.exit(1)
    print("ok")


if __name__ == "__main__":
    main()
