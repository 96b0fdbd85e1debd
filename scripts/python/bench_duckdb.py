"""DuckDB's side of the analytics benchmark (scripts/bench-analytics.sh).

The PyPI `duckdb` wheel is the Python module (it ships no `duckdb` console script), so this is
"the DuckDB CLI" of the comparison: one process, one in-memory connection, the report queries
timed inside it (interpreter start and `import duckdb` are not counted, as DataFusion's figures
do not count the bench binary's start).

    python bench_duckdb.py CONFIG.json

CONFIG: {"glob": ".../t=TENANT/*/*.parquet", "threads": 2, "runs": 5,
         "queries": [{"name": "daily", "sql": "SELECT ..."}, ...]}

The view `events` reads the Hive-partitioned Parquet files again on every query (as DataFusion's
engine lists them again on every run). Prints one JSON object: the DuckDB version, threads and
per query the wall time of every run (ms, the query executed and every row fetched), the row
count, and the sum of every numeric column (for checking the answers against DataFusion's).
"""

import json
import sys
import time

import duckdb


def column_sums(columns, rows):
    """The sum of each column whose values are all numbers (None counts as nothing)."""
    sums = {}
    for i, name in enumerate(columns):
        values = [row[i] for row in rows if row[i] is not None]
        # bool is an int in Python: a true/false column is not a figure to add up.
        if values and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
        ):
            sums[name] = sum(values)
    return sums


def run(config):
    con = duckdb.connect(":memory:")
    con.execute(f"SET threads TO {int(config['threads'])}")
    glob = config["glob"].replace("'", "''")
    con.execute(
        "CREATE VIEW events AS SELECT * FROM "
        f"read_parquet('{glob}', hive_partitioning = true)"
    )
    queries = []
    for query in config["queries"]:
        times_ms = []
        columns, rows = [], []
        for _ in range(int(config["runs"])):
            started = time.perf_counter()
            relation = con.sql(query["sql"])
            rows = relation.fetchall()
            times_ms.append((time.perf_counter() - started) * 1000.0)
            columns = list(relation.columns)
        queries.append(
            {
                "name": query["name"],
                "times_ms": times_ms,
                "rows": len(rows),
                "columns": columns,
                "sums": column_sums(columns, rows),
            }
        )
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    return {"version": duckdb.__version__, "threads": threads, "queries": queries}


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python bench_duckdb.py CONFIG.json\n")
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        config = json.load(f)
    sys.stdout.write(json.dumps(run(config)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
