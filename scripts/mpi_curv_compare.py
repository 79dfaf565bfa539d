#!/usr/bin/env python3
"""Helpers of scripts/mpi-curv-tests.sh (standard library only: no numpy needed).

  mpi_curv_compare.py data DIR
      writes the test data sets: float64 .npy files whose sizes (13, 11, 7 data points)
      do not divide evenly over 2 or 3 ranks, and faulty copies (a NaN input, a class
      index out of range) whose fault lies in the last rank's shard.
  mpi_curv_compare.py compare REFERENCE.json RUN.json RANKS [REFERENCE.npy RUN.npy]
      checks that a data-parallel run of curv gives the single-process result: every
      number of the JSON report (but the timing) within 1e-11 relative to the largest
      magnitude of its key (absolute for residuals, which are relative already), integers
      and strings equal, "ranks" equal to RANKS (and absent from the reference), and the
      .npy outputs within 1e-11 relative to their largest magnitude. Exits 1 with a line
      naming the first difference.
  mpi_curv_compare.py bench REFERENCE.json RUN.json RANKS
      checks a data-parallel `curv bench --json`: the same keys, P, N and set-up, "ranks"
      equal to RANKS, a timing wherever 1 process has one (timings are not compared).
"""
import json
import math
import random
import struct
import sys

TOLERANCE = 1e-11
# Relative quantities already: compared absolutely.
ABSOLUTE = {"residual_norms", "relative_residual"}
IGNORED = {"seconds", "ranks", "output", "fit_seconds", "optimize_seconds", "predict_seconds"}


def write_npy(path, shape, values, dtype="<f8"):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        dtype, ", ".join(str(n) for n in shape) if len(shape) != 1 else f"{shape[0]},")
    padding = 64 - (10 + len(header) + 1) % 64
    header = header + " " * padding + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        code = "d" if dtype == "<f8" else "q"
        f.write(struct.pack("<%d%s" % (len(values), code), *values))


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    major = data[6]
    length = struct.unpack("<H" if major == 1 else "<I", data[8:10] if major == 1 else data[8:12])[0]
    start = (10 if major == 1 else 12) + length
    header = data[(10 if major == 1 else 12):start].decode("latin1")
    assert "'<f8'" in header and "'fortran_order': False" in header, f"{path}: {header}"
    count = (len(data) - start) // 8
    return list(struct.unpack("<%dd" % count, data[start:start + 8 * count]))


def make_data(directory):
    rng = random.Random(18)

    def normal(count):
        return [rng.gauss(0, 1) for _ in range(count)]

    def classes(count, k):
        return [rng.randrange(k) for _ in range(count)]

    # The MLP of Tests/.../mlp_ce_mean (4 → 6 → 3, cross-entropy): 13 points.
    x = normal(13 * 4)
    y = classes(13, 3)
    write_npy(f"{directory}/mlp_X.npy", [13, 4], x)
    write_npy(f"{directory}/mlp_y.npy", [13], y, "<i8")
    # Faults in data point 12, in the last shard for 2 and 3 ranks (7..<13, 9..<13).
    write_npy(f"{directory}/nan_X.npy", [13, 4], x[:12 * 4 + 1] + [math.nan] + x[12 * 4 + 2:])
    write_npy(f"{directory}/bad_y.npy", [13], y[:12] + [7], "<i8")
    # The CNN of cnn_ce_mean (conv 2→?, 5×5 inputs, cross-entropy): 11 points.
    write_npy(f"{directory}/cnn_X.npy", [11, 2, 5, 5], normal(11 * 2 * 5 * 5))
    write_npy(f"{directory}/cnn_y.npy", [11], classes(11, 3), "<i8")
    # The MLP of mlp_mse_sum (3 → 5 → 2, MSE with sum): 7 points.
    write_npy(f"{directory}/mse_X.npy", [7, 3], normal(7 * 3))
    write_npy(f"{directory}/mse_y.npy", [7, 2], normal(7 * 2))
    # A right-hand side for solve and vectors for apply (P = 51 for the MLP).
    write_npy(f"{directory}/b.npy", [51], normal(51))
    write_npy(f"{directory}/V.npy", [51, 2], normal(51 * 2))
    # The graph model of Tests/.../Graph/rmsnorm_elu (RMSNorm, ELU, linear 5 → 3, MSE):
    # 11 points; and test inputs for laplace --predict on the MLP.
    write_npy(f"{directory}/graph_X.npy", [11, 5], normal(11 * 5))
    write_npy(f"{directory}/graph_y.npy", [11, 3], normal(11 * 3))
    write_npy(f"{directory}/test_X.npy", [5, 4], normal(5 * 4))


def numbers(value):
    """The numbers of a JSON value, flattened (None stays None)."""
    if isinstance(value, list):
        return [n for item in value for n in numbers(item)]
    return [value]


def close(key, reference, run):
    if isinstance(reference, str) or isinstance(reference, bool) or reference is None:
        return reference == run
    a, b = numbers(reference), numbers(run)
    if len(a) != len(b):
        return False
    if all(isinstance(v, int) for v in a + b):
        return a == b
    if key in ABSOLUTE:
        return all(abs(p - q) <= TOLERANCE for p, q in zip(a, b))
    scale = max((abs(v) for v in a), default=0.0)
    return all(abs(p - q) <= TOLERANCE * scale for p, q in zip(a, b))


def compare(reference_path, run_path, ranks, arrays):
    with open(reference_path) as f:
        reference = json.load(f)
    with open(run_path) as f:
        run = json.load(f)
    if "ranks" in reference:
        return "the single-process report has a \"ranks\" key"
    if run.get("ranks") != ranks:
        return f"\"ranks\" is {run.get('ranks')!r}, expected {ranks}"
    if set(reference) | {"ranks"} != set(run):
        return f"keys differ: {sorted(reference)} vs {sorted(run)}"
    for key in sorted(set(reference) - IGNORED):
        if not close(key, reference[key], run[key]):
            return f"\"{key}\": {reference[key]} (1 process) vs {run[key]} ({ranks} ranks)"
    if arrays:
        a, b = read_npy(arrays[0]), read_npy(arrays[1])
        if len(a) != len(b):
            return f"{arrays[1]}: {len(b)} elements, 1 process wrote {len(a)}"
        scale = max((abs(v) for v in a), default=0.0)
        worst = max((abs(p - q) for p, q in zip(a, b)), default=0.0)
        if not worst <= TOLERANCE * scale:
            return f"{arrays[1]}: differs from the single-process output by {worst:.3g} (scale {scale:.3g})"
    return None


def check_bench(reference_path, run_path, ranks):
    """A data-parallel bench report: the single-process keys, "ranks" equal to RANKS, the
    same P and N, and a timing (or null) for every product."""
    with open(reference_path) as f:
        reference = json.load(f)
    with open(run_path) as f:
        run = json.load(f)
    if run.get("ranks") != ranks or "ranks" in reference:
        return f"\"ranks\" is {run.get('ranks')!r} ({reference.get('ranks')!r} in 1 process), expected {ranks}"
    if set(reference) | {"ranks"} != set(run):
        return f"keys differ: {sorted(reference)} vs {sorted(run)}"
    for key in ("P", "N", "batch_size", "dtype", "repeat", "operator"):
        if reference[key] != run[key]:
            return f"\"{key}\": {reference[key]} (1 process) vs {run[key]} ({ranks} ranks)"
    for key in (k for k in run if k.endswith("_ms")):
        if (reference[key] is None) != (run[key] is None) or (run[key] is not None and not run[key] >= 0):
            return f"\"{key}\": {reference[key]} (1 process) vs {run[key]} ({ranks} ranks)"
    return None


def main(argv):
    if len(argv) >= 2 and argv[1] == "data":
        make_data(argv[2])
        return 0
    if len(argv) in (5, 7) and argv[1] == "compare":
        problem = compare(argv[2], argv[3], int(argv[4]), argv[5:7])
        if problem:
            print(problem)
            return 1
        return 0
    if len(argv) == 5 and argv[1] == "bench":
        problem = check_bench(argv[2], argv[3], int(argv[4]))
        if problem:
            print(problem)
            return 1
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
