# A pipeline file for the taskgraph command. From the repository root:
#
#   taskgraph list examples/pipeline.py                     # the tasks, what each requires, what each does
#   taskgraph run examples/pipeline.py                      # make report and export, one task at a time
#   taskgraph run examples/pipeline.py -j 4                 # four at once (a live display on a terminal)
#   taskgraph run examples/pipeline.py report --dry-run     # what making the report would run, in order
#   taskgraph run examples/pipeline.py -j 4 --record out/pipeline/run.jsonl
#   PIPELINE_BREAK=to_eur taskgraph run examples/pipeline.py -j 4    # a step fails: see what it takes down
#   PIPELINE_SLOW=20 taskgraph run examples/pipeline.py -j 4         # 20 times slower, to watch the display
#   taskgraph graph examples/pipeline.py -o out/pipeline/graph.svg
#
# or `python examples/pipeline.py [run options]`, the same as `taskgraph run examples/pipeline.py [options]`.
"""A small sales pipeline: the orders in examples/data/orders.csv, validated, converted to euros and reported.

    task       requires                     writes
    extract    -                            raw.json
    rates      -                            rates.json
    validate   extract                      valid.json, rejected.json
    to_eur     validate, rates              eur.json
    customers  validate                     customers.json
    regions    validate                     regions.json
    totals     to_eur, customers, regions   totals.json
    report     totals, validate             report.md        (a final task: `taskgraph run` makes it)
    export     to_eur, customers, regions   orders_eur.csv   (the other final task)

Each step is a module-level function that reads and writes files under the output folder, ``$PIPELINE_OUT``
(``out/pipeline`` under the current directory by default), so any queue runs it: inline, ``-j N`` (threads),
``--queue processes://N``. Nothing uses the network; the exchange rates are a table in this file. The steps take
tens of milliseconds each (``PIPELINE_SLOW=N`` makes them N times slower), and ``PIPELINE_BREAK=STEP`` makes one
raise, to see what a failure takes down.

Outputs: ``report.md`` (totals by region and the best customers, and the rejected orders with the reason for
each) and ``orders_eur.csv`` (the valid orders, cleaned, in euros), with the JSON files the steps hand on.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

from taskgraph import Task

DATA = Path(__file__).resolve().parent / "data" / "orders.csv"
OUT = Path(os.environ.get("PIPELINE_OUT") or "out/pipeline").resolve()
SLOW = float(os.environ.get("PIPELINE_SLOW") or 1)
BREAK = os.environ.get("PIPELINE_BREAK", "")

#: Euros per unit of each currency, as the day's rates would say.
RATES = {"EUR": 1.0, "GBP": 1.17, "USD": 0.92, "CHF": 1.04}
REGIONS = {"GB": "Europe", "DE": "Europe", "NL": "Europe", "CH": "Europe", "US": "Americas"}


def work(seconds: float) -> None:
    """Stand in for the time real work takes."""
    time.sleep(seconds * SLOW)


def load(out: Path, name: str) -> Any:
    return json.loads((out / name).read_text(encoding="utf-8"))


def save(out: Path, name: str, data: Any) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / name).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ the steps


def extract(source: Path, out: Path) -> int:
    """Read the orders from the CSV file into raw.json."""
    work(0.03)
    with open(source, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    save(out, "raw.json", rows)
    return len(rows)


def rates(out: Path) -> int:
    """Get the day's exchange rates into rates.json (from a table here: no network)."""
    work(0.05)
    save(out, "rates.json", RATES)
    return len(RATES)


def validate(out: Path) -> str:
    """Split the orders into valid and rejected ones, with the reason for each rejection."""
    work(0.02)
    valid, rejected = [], []
    for row in load(out, "raw.json"):
        amount = row["amount"].strip()
        if not amount:
            why = "no amount"
        elif float(amount) <= 0:
            why = f"amount {amount} is not positive"
        elif row["currency"] not in RATES:
            why = f"unknown currency {row['currency']}"
        elif row["country"] not in REGIONS:
            why = f"unknown country {row['country']}"
        else:
            valid.append(row)
            continue
        rejected.append({**row, "reason": why})
    if not valid:
        raise ValueError(f"no valid orders in {len(rejected)} rows")
    save(out, "valid.json", valid)
    save(out, "rejected.json", rejected)
    return f"{len(valid)} valid, {len(rejected)} rejected"


def to_eur(out: Path) -> float:
    """Convert each valid order's amount to euros."""
    work(0.06)
    table = load(out, "rates.json")
    euros = {r["id"]: round(float(r["amount"]) * table[r["currency"]], 2) for r in load(out, "valid.json")}
    save(out, "eur.json", euros)
    return round(sum(euros.values()), 2)


def customers(out: Path) -> int:
    """Clean up the customers' names: spaces trimmed, words capitalised."""
    work(0.04)
    names = {r["id"]: " ".join(r["customer"].split()).title() for r in load(out, "valid.json")}
    save(out, "customers.json", names)
    return len(set(names.values()))


def regions(out: Path) -> int:
    """Map each order's country to its sales region."""
    work(0.04)
    found = {r["id"]: REGIONS[r["country"]] for r in load(out, "valid.json")}
    save(out, "regions.json", found)
    return len(set(found.values()))


def totals(out: Path) -> dict[str, float]:
    """Add up the euros by region and by customer."""
    work(0.03)
    euros, names, places = load(out, "eur.json"), load(out, "customers.json"), load(out, "regions.json")
    by_region: dict[str, float] = {}
    by_customer: dict[str, float] = {}
    for order, amount in euros.items():
        by_region[places[order]] = round(by_region.get(places[order], 0.0) + amount, 2)
        by_customer[names[order]] = round(by_customer.get(names[order], 0.0) + amount, 2)
    save(out, "totals.json", {"regions": by_region, "customers": by_customer, "total": round(sum(euros.values()), 2)})
    return by_region


def report(out: Path) -> str:
    """Write report.md: the totals by region, the best customers, and the rejected orders."""
    work(0.02)
    data, rejected = load(out, "totals.json"), load(out, "rejected.json")
    lines = ["# Sales", "", f"Total: {data['total']:.2f} EUR", "", "| region | EUR |", "|---|---:|"]
    lines += [f"| {region} | {amount:.2f} |" for region, amount in sorted(data["regions"].items(),
                                                                         key=lambda item: -item[1])]
    lines += ["", "Best customers:", ""]
    best = sorted(data["customers"].items(), key=lambda item: -item[1])[:3]
    lines += [f"{i}. {name}: {amount:.2f} EUR" for i, (name, amount) in enumerate(best, 1)]
    lines += ["", f"Rejected orders: {len(rejected)}", ""]
    lines += [f"- {r['id']} ({r['customer'].strip()}): {r['reason']}" for r in rejected]
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(out / "report.md")


def export(out: Path) -> int:
    """Write the valid orders, cleaned and in euros, to orders_eur.csv."""
    work(0.03)
    euros, names, places = load(out, "eur.json"), load(out, "customers.json"), load(out, "regions.json")
    with open(out / "orders_eur.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "customer", "region", "eur"])
        for order in sorted(euros):
            writer.writerow([order, names[order], places[order], f"{euros[order]:.2f}"])
    return len(euros)


def broken(step: str) -> None:
    """A step broken on purpose (PIPELINE_BREAK)."""
    raise RuntimeError(f"step {step!r} is broken on purpose (PIPELINE_BREAK={step})")


# ------------------------------------------------------------------ the graph: module-level tasks


def step(name: str, func: Any, *args: Any) -> Task:
    return Task(name, broken, args=(name,)) if name == BREAK else Task(name, func, args=args or (OUT,))


extract_task = step("extract", extract, DATA, OUT)
rates_task = step("rates", rates)
validate_task = step("validate", validate).require(extract_task)
to_eur_task = step("to_eur", to_eur).require(validate_task, rates_task)
customers_task = step("customers", customers).require(validate_task)
regions_task = step("regions", regions).require(validate_task)
totals_task = step("totals", totals).require(to_eur_task, customers_task, regions_task)
report_task = step("report", report).require(totals_task, validate_task)
export_task = step("export", export).require(to_eur_task, customers_task, regions_task)


if __name__ == "__main__":
    import sys

    from taskgraph.cli import main

    main(["run", __file__, *sys.argv[1:]], prog_name="taskgraph")
