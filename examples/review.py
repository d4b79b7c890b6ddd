"""Draw a pipeline's graph for review, coloured by the state of each step, as DOT and SVG.

    python examples/review.py --out out/review                    # run the whole pipeline, then draw it
    python examples/review.py --out out/review --fail regions     # one step breaks: see what it takes down
    python examples/review.py --out out/review --until validate   # run only up to a step: the rest stays PENDING
    python examples/review.py --out out/review --plan             # run nothing: draw the plan

The pipeline is a small ETL job over examples/data/orders.csv, each step handing its output to the next through
JSON files in <out>/work:

    extract -> validate -> currency  \\
                           customers  -> load (SQLite) -> report
                           regions   /

``--fail STEP`` swaps a step's function for one that raises, as a broken deployment would; the steps that need it
fail without running and the others run on. ``--until STEP`` makes only that step and its prerequisites.
Whatever happened, it writes <out>/pipeline.dot and <out>/pipeline.svg, with a legend of the state colours, and
prints the state of each step and where the files are. It exits 0 once the files are written, even when a step
failed (that is what there is to review), and 2 when the SVG cannot be rendered (Graphviz's dot is missing).
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import sys
from pathlib import Path

from taskgraph import RenderError, Task, make_now, tasks_as_dot, tasks_as_svg

DATA = Path(__file__).resolve().parent / "data" / "orders.csv"
EUR_PER = {"EUR": 1.0, "GBP": 1.17, "USD": 0.92, "CHF": 1.04}
REGIONS = {"GB": "Europe", "DE": "Europe", "NL": "Europe", "CH": "Europe", "US": "Americas"}
STEPS = ["extract", "validate", "currency", "customers", "regions", "load", "report"]


def load_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def save_json(path: Path, data) -> None:
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


# The steps: module-level functions of paths, so that any queue (processes:// too) can run them.
def extract(source: Path, work: Path) -> str:
    work.mkdir(parents=True, exist_ok=True)
    with open(source, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    save_json(work / "rows.json", rows)
    return f"{len(rows)} rows"


def validate(work: Path) -> str:
    valid: list[dict] = []
    rejected: list[dict] = []
    for row in load_json(work / "rows.json"):
        ok = row["currency"] in EUR_PER and row["country"] in REGIONS and row["amount"].strip()
        (valid if ok and float(row["amount"]) > 0 else rejected).append(row)
    if not valid:
        raise ValueError("no valid rows")
    save_json(work / "valid.json", valid)
    save_json(work / "rejected.json", rejected)
    return f"{len(valid)} valid, {len(rejected)} rejected"


def currency(work: Path) -> str:
    amounts = {r["id"]: round(float(r["amount"]) * EUR_PER[r["currency"]], 2) for r in load_json(work / "valid.json")}
    save_json(work / "currency.json", amounts)
    return f"{sum(amounts.values()):.2f} EUR"


def customers(work: Path) -> str:
    names = {r["id"]: " ".join(r["customer"].split()).title() for r in load_json(work / "valid.json")}
    save_json(work / "customers.json", names)
    return f"{len(set(names.values()))} customers"


def regions(work: Path) -> str:
    found = {r["id"]: REGIONS[r["country"]] for r in load_json(work / "valid.json")}
    save_json(work / "regions.json", found)
    return f"{len(set(found.values()))} regions"


def load(work: Path) -> str:
    amounts, names, places = (load_json(work / f"{n}.json") for n in ("currency", "customers", "regions"))
    with sqlite3.connect(work / "orders.sqlite") as db:
        db.execute("DROP TABLE IF EXISTS orders")
        db.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, customer TEXT, region TEXT, eur REAL)")
        rows = [(i, names[i], places[i], eur) for i, eur in amounts.items()]
        db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", rows)
    db.close()
    return f"{len(amounts)} orders loaded"


def report(work: Path) -> str:
    db = sqlite3.connect(work / "orders.sqlite")
    query = "SELECT region, COUNT(*), ROUND(SUM(eur), 2) FROM orders GROUP BY region ORDER BY 3 DESC"
    rows = db.execute(query).fetchall()
    db.close()
    text = "".join(f"{region:<10} {count:>3} orders {total:>10.2f} EUR\n" for region, count, total in rows)
    (work / "report.txt").write_text(text, encoding="utf-8")
    return "; ".join(f"{region} {total:.2f} EUR" for region, _, total in rows)


def broken(step: str) -> None:
    raise RuntimeError(f"step {step!r} is broken (--fail {step})")


def pipeline(work: Path, fail: str | None) -> dict[str, Task]:
    """The pipeline's tasks by name; the step named by ``fail`` gets a function that raises."""
    def step(name: str, func, *args) -> Task:
        return Task(name, broken, args=(name,)) if name == fail else Task(name, func, args=args)

    extracted = step("extract", extract, DATA, work)
    validated = extracted.then(step("validate", validate, work))
    transforms = [validated.then(step(name, func, work)) for name, func in
                  [("currency", currency), ("customers", customers), ("regions", regions)]]
    loaded = step("load", load, work).require(*transforms)
    reported = loaded.then(step("report", report, work))
    return {t.name: t for t in (extracted, validated, *transforms, loaded, reported)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a small ETL pipeline and draw its graph for review.")
    parser.add_argument("--out", type=Path, required=True, help="where to write pipeline.dot and pipeline.svg")
    parser.add_argument("--fail", choices=STEPS, help="make this step raise")
    parser.add_argument("--until", choices=STEPS, default="report", help="make only this step and what it needs")
    parser.add_argument("--plan", action="store_true", help="run nothing; draw the plan, every step PENDING")
    parser.add_argument("--queue", default="threads://3", help="where steps run, as a queue URL (default: threads://3)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    tasks = pipeline((args.out / "work").resolve(), args.fail)
    if not args.plan:
        make_now(tasks[args.until], queue=args.queue)
    for task in tasks.values():
        error = task.exception
        outcome = task.result if task.state == "DONE" else f"{type(error).__name__}: {error}" if error else ""
        print(f"{task.state:<9} {task.name:<10} {outcome}")

    dot_path, svg_path = args.out / "pipeline.dot", args.out / "pipeline.svg"
    dot_path.write_text(tasks_as_dot(tasks.values(), name="pipeline", legend=True), encoding="utf-8")
    print(f"DOT: {dot_path}")
    try:
        svg_path.write_text(tasks_as_svg(tasks.values(), name="pipeline", legend=True), encoding="utf-8")
    except RenderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"SVG: {svg_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
