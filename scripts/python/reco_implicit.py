#!/usr/bin/env python3
"""The reference side of the recommendation evaluation: implicit's CPU ALS on the same data and
settings as mvidarr-reco, called by the Rust `reco-eval` binary (scripts/reco-eval.sh).

    PYTHON reco_implicit.py DIR --threads N
    PYTHON reco_implicit.py --self-test

DIR holds (written by reco-eval):
  meta.json        {"users", "items", "factors", "regularization", "iterations", "cg_steps",
                    "seed", "k"}
  train.tsv        user<TAB>item<TAB>confidence, 0-based indices, one line per (user, item) pair;
                   the confidence is already 1 + alpha*r, so implicit runs with alpha=1.0 and uses
                   the stored value as is
  eval_users.txt   one user index per line, the users to recommend for, in order
and gets DIR/implicit_t{N}.json:
  {"implicit_version": str, "threads": N, "fit_seconds": float (model.fit alone),
   "blas": [{"internal_api", "version", "architecture", "prefix", "num_threads"}, ...],
   "recommendations": [[item, ...], ...]}
one list per eval user in eval_users.txt's order, best first, without the user's training items;
a list is shorter than k only when fewer than k items are left once those are taken out.
Bad input exits 1 with one line on stderr.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import implicit
import implicit.cpu.als
import numpy as np
import scipy.sparse
import threadpoolctl

META_FILE = "meta.json"
TRAIN_FILE = "train.tsv"
EVAL_USERS_FILE = "eval_users.txt"
META_INT_KEYS = ("users", "items", "factors", "iterations", "cg_steps", "seed", "k")
META_FLOAT_KEYS = ("regularization",)
# implicit's topk gives filtered (already liked) items this score and leaves them in the result
# when fewer than N others are left; such entries are not recommendations.
FILTERED_SCORE = np.finfo(np.float32).min


class BadInput(Exception):
    """Input that the Rust side should never write; reported as one line, exit 1."""


def output_path(data_dir: Path, threads: int) -> Path:
    return data_dir / f"implicit_t{threads}.json"


def read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"{path}: missing") from None
    except (OSError, ValueError) as err:
        raise BadInput(f"{path}: {err}") from None
    if not isinstance(meta, dict):
        raise BadInput(f"{path}: expected a JSON object")
    for key in META_INT_KEYS:
        value = meta.get(key)
        # bool is an int in Python; true/false is not a count.
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadInput(f"{path}: {key!r} must be an integer, got {value!r}")
    for key in META_FLOAT_KEYS:
        value = meta.get(key)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            raise BadInput(f"{path}: {key!r} must be a finite number, got {value!r}")
    for key in ("users", "items", "factors", "iterations", "cg_steps", "k"):
        if meta[key] < 1:
            raise BadInput(f"{path}: {key!r} must be at least 1, got {meta[key]}")
    if meta["seed"] < 0:
        raise BadInput(f"{path}: 'seed' must not be negative, got {meta['seed']}")
    if meta["regularization"] < 0:
        raise BadInput(
            f"{path}: 'regularization' must not be negative, got {meta['regularization']}"
        )
    return meta


def read_train(path: Path, n_users: int, n_items: int) -> scipy.sparse.csr_matrix:
    if not path.is_file():
        raise BadInput(f"{path}: missing")
    try:
        with warnings.catch_warnings():
            # an empty file is reported below, not as numpy's warning
            warnings.simplefilter("ignore", UserWarning)
            rows = np.loadtxt(path, delimiter="\t", dtype=np.float64, ndmin=2, comments=None)
    except (OSError, ValueError) as err:
        raise BadInput(f"{path}: {err}") from None
    if rows.shape[0] == 0:
        raise BadInput(f"{path}: no interactions")
    if rows.shape[1] != 3:
        raise BadInput(f"{path}: expected 3 columns (user, item, confidence), got {rows.shape[1]}")
    users = _indices(path, "user", rows[:, 0], n_users)
    items = _indices(path, "item", rows[:, 1], n_items)
    confidence = rows[:, 2]
    if not np.all(np.isfinite(confidence)):
        row = int(np.argmin(np.isfinite(confidence)))
        raise BadInput(f"{path}: row {row + 1}: confidence is not a finite number")
    # scipy would sum a repeated pair into one confidence the Rust side never had.
    keys = users.astype(np.int64) * n_items + items
    if np.unique(keys).size != keys.size:
        raise BadInput(f"{path}: a (user, item) pair appears more than once")
    return scipy.sparse.csr_matrix(
        (confidence.astype(np.float32), (users, items)), shape=(n_users, n_items), dtype=np.float32
    )


def read_eval_users(path: Path, n_users: int) -> np.ndarray:
    if not path.is_file():
        raise BadInput(f"{path}: missing")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            values = np.loadtxt(path, dtype=np.float64, ndmin=1, comments=None)
    except (OSError, ValueError) as err:
        raise BadInput(f"{path}: {err}") from None
    if values.ndim != 1:
        raise BadInput(f"{path}: expected one user index per line")
    return _indices(path, "user", values, n_users)


def _indices(path: Path, what: str, values: np.ndarray, bound: int) -> np.ndarray:
    """Checks that parsed numbers are whole indices in [0, bound) and returns them as int32."""
    bad = ~np.isfinite(values) | (values != np.floor(values)) | (values < 0) | (values >= bound)
    if np.any(bad):
        row = int(np.argmax(bad))
        raise BadInput(
            f"{path}: row {row + 1}: {what} {values[row]:g} is not an index in [0, {bound})"
        )
    return values.astype(np.int32)


def blas_info() -> list:
    """The BLAS libraries loaded (numpy and scipy each bring one) and the kernel each picked."""
    libs = [
        {
            "internal_api": lib.get("internal_api"),
            "version": lib.get("version"),
            "architecture": lib.get("architecture"),
            "prefix": lib.get("prefix"),
            "num_threads": lib.get("num_threads"),
        }
        for lib in threadpoolctl.threadpool_info()
        if lib.get("user_api") == "blas"
    ]
    return sorted(libs, key=lambda lib: (str(lib["prefix"]), str(lib["version"])))


def run(data_dir: Path, threads: int) -> Path:
    if not data_dir.is_dir():
        raise BadInput(f"{data_dir}: not a directory")
    meta = read_meta(data_dir / META_FILE)
    user_items = read_train(data_dir / TRAIN_FILE, meta["users"], meta["items"])
    eval_users = read_eval_users(data_dir / EVAL_USERS_FILE, meta["users"])

    # implicit's own threads do the work; a multi-threaded BLAS underneath only contends with them.
    # The model is made inside the limit too: its constructor checks the BLAS threads and warns.
    with threadpoolctl.threadpool_limits(1, "blas"):
        model = implicit.cpu.als.AlternatingLeastSquares(
            factors=meta["factors"],
            regularization=float(meta["regularization"]),
            alpha=1.0,
            iterations=meta["iterations"],
            calculate_training_loss=False,
            use_native=True,
            use_cg=True,
            num_threads=threads,
            random_state=meta["seed"],
            dtype=np.float32,
        )
        model.cg_steps = meta["cg_steps"]
        blas = blas_info()
        started = time.perf_counter()
        model.fit(user_items, show_progress=False)
        fit_seconds = time.perf_counter() - started

    recommendations = []
    if eval_users.size:
        # N past the item count would pad with placeholder ids.
        n = min(meta["k"], meta["items"])
        ids, scores = model.recommend(
            eval_users, user_items[eval_users], N=n, filter_already_liked_items=True
        )
        for user_ids, user_scores in zip(ids, scores, strict=True):
            recommendations.append(
                [
                    int(item)
                    for item, score in zip(user_ids, user_scores, strict=True)
                    if score > FILTERED_SCORE
                ]
            )

    result = {
        "implicit_version": implicit.__version__,
        "threads": threads,
        "fit_seconds": fit_seconds,
        "blas": blas,
        "recommendations": recommendations,
    }
    out = output_path(data_dir, threads)
    # Written whole then renamed, so a reader never sees half a file.
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(result))
    os.replace(partial, out)
    return out


def self_test() -> None:
    """Runs this script as reco-eval does, on a small random dataset, with 1 and 2 threads, and
    checks the output; then checks that bad input fails with one line."""
    rng = np.random.default_rng(7)
    n_users, n_items, k = 60, 40, 10
    meta = {
        "users": n_users,
        "items": n_items,
        "factors": 8,
        "regularization": 0.05,
        "iterations": 5,
        "cg_steps": 3,
        "seed": 42,
        "k": k,
    }
    liked = {}
    for user in range(n_users):
        # user 0 likes all but 3 items, so its list must come back shorter than k
        count = n_items - 3 if user == 0 else int(rng.integers(1, 12))
        liked[user] = sorted(rng.choice(n_items, size=count, replace=False).tolist())
    eval_users = [0, 5, 3, 59, 5]

    def write_dataset(data_dir: Path) -> None:
        (data_dir / META_FILE).write_text(json.dumps(meta))
        with open(data_dir / TRAIN_FILE, "w") as train:
            for user, items in liked.items():
                for item in items:
                    train.write(f"{user}\t{item}\t{1.0 + 40.0 * rng.random():.4f}\n")
        (data_dir / EVAL_USERS_FILE).write_text("".join(f"{u}\n" for u in eval_users))

    def invoke(data_dir: Path, threads: int) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, __file__, str(data_dir), "--threads", str(threads)],
            capture_output=True,
            text=True,
            check=False,
        )

    with tempfile.TemporaryDirectory(prefix="reco-implicit-") as tmp:
        data_dir = Path(tmp)
        write_dataset(data_dir)
        outputs = {}
        for threads in (1, 2):
            proc = invoke(data_dir, threads)
            _expect(
                proc.returncode == 0, f"threads={threads}: exit {proc.returncode}: {proc.stderr}"
            )
            _expect(proc.stderr == "", f"threads={threads}: unexpected stderr: {proc.stderr}")
            result = json.loads(output_path(data_dir, threads).read_text())
            _expect(
                set(result)
                == {"implicit_version", "threads", "fit_seconds", "blas", "recommendations"},
                f"keys {sorted(result)}",
            )
            _expect(result["implicit_version"] == implicit.__version__, "implicit_version")
            _expect(result["threads"] == threads, "threads")
            _expect(
                isinstance(result["fit_seconds"], float) and result["fit_seconds"] > 0,
                "fit_seconds",
            )
            _expect(
                all(lib["num_threads"] == 1 for lib in result["blas"]) and result["blas"],
                f"blas not limited to 1 thread: {result['blas']}",
            )
            recs = result["recommendations"]
            _expect(len(recs) == len(eval_users), f"{len(recs)} lists for {len(eval_users)} users")
            for user, rec in zip(eval_users, recs, strict=True):
                want = min(k, n_items - len(liked[user]))
                _expect(len(rec) == want, f"user {user}: {len(rec)} items, want {want}")
                _expect(all(type(item) is int and 0 <= item < n_items for item in rec), "ids")
                _expect(len(set(rec)) == len(rec), f"user {user}: repeated items")
                _expect(not set(rec) & set(liked[user]), f"user {user}: a training item came back")
            _expect(recs[1] == recs[4], "the same user twice got two lists")
            outputs[threads] = result
            blas = ", ".join(
                f"{b['internal_api']} {b['version']} {b['architecture']}" for b in result["blas"]
            )
            print(
                f"threads={threads}: fit {result['fit_seconds'] * 1000:.1f} ms, "
                f"{len(recs)} lists (lengths {[len(r) for r in recs]}), blas: {blas}"
            )
        same = outputs[1]["recommendations"] == outputs[2]["recommendations"]
        print(f"1 and 2 threads give the same lists: {same}")

        failures = {
            "missing train.tsv": lambda d: (d / TRAIN_FILE).unlink(),
            "item out of range": lambda d: (d / TRAIN_FILE).write_text(f"0\t{n_items}\t2.0\n"),
            "user out of range": lambda d: (d / EVAL_USERS_FILE).write_text(f"{n_users}\n"),
            "two columns": lambda d: (d / TRAIN_FILE).write_text("0\t1\n"),
            "ragged rows": lambda d: (d / TRAIN_FILE).write_text("0\t1\t2.0\n0\t2\n"),
            "not a number": lambda d: (d / TRAIN_FILE).write_text("0\tx\t2.0\n"),
            "fractional index": lambda d: (d / EVAL_USERS_FILE).write_text("1.5\n"),
            "repeated pair": lambda d: (d / TRAIN_FILE).write_text("0\t1\t2.0\n0\t1\t3.0\n"),
            "meta without k": lambda d: (d / META_FILE).write_text(
                json.dumps({key: v for key, v in meta.items() if key != "k"})
            ),
        }
        for name, damage in failures.items():
            write_dataset(data_dir)
            damage(data_dir)
            proc = invoke(data_dir, 1)
            lines = proc.stderr.strip().splitlines()
            _expect(proc.returncode == 1, f"{name}: exit {proc.returncode}, stderr {proc.stderr!r}")
            _expect(len(lines) == 1, f"{name}: stderr is not one line: {proc.stderr!r}")
            print(f"bad input, {name}: exit 1: {lines[0]}")
    print("self-test passed")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(f"self-test: {message}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", nargs="?", type=Path, help="directory with the exported dataset")
    parser.add_argument("--threads", type=int, help="implicit's num_threads (at least 1)")
    parser.add_argument("--self-test", action="store_true", help="check this script on random data")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return 0
    if args.dir is None or args.threads is None:
        parser.error("DIR and --threads are required (or --self-test)")
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    try:
        run(args.dir, args.threads)
    except BadInput as err:
        # one line, whatever numpy's message looked like
        print("reco_implicit: " + " ".join(str(err).split()), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
