"""taskgraph as a build tool, side by side with make and ninja on one generated C tree, in one run.

What it measures, for each tool on its own copy of the same generated tree (N translation units, each including
three of H shared headers, archived with ``ar`` into a library and linked with a main program), the wall time of:

* ``clean``: a build from nothing (the build folder and the tool's state removed first);
* ``no-op``: the same build again, nothing changed (it must run no command);
* ``one .c``: after one source changed (its compile, the archive and the link run);
* ``header``: after one header changed (its includers, about N*3/H of them, then the archive and the link).

The tools, each building with ``-j JOBS`` (default 2) and the same gcc commands (``-O1 -MMD``: depfiles without
system headers, as usual with make):

* ``make``: a Makefile with pattern rules and ``-include`` of the depfiles (``make -jJOBS``);
* ``ninja``: build.ninja with ``deps = gcc`` (``ninja -jJOBS``), left out if ninja is not on PATH;
* ``taskgraph``: a pipeline file of :func:`taskgraph.shell` tasks with depfiles, run by the command a user types
  (``python -m taskgraph run pipeline.py -j JOBS -q``), Python's start-up and the import of taskgraph included.

Each scenario runs ``--repeat`` times (tools in turn, the order rotated each time) and the median is reported,
with each tool's ratio to make's. Every build is checked: it exits 0, the program it links prints what its
sources say, and the no-op runs no command (for make: ``make -q`` says it is up to date; for ninja: "no work to
do"; for taskgraph: the run record has every task up to date).

Run it::

    .venv/bin/python benchmarks/build_vs_make.py                       # N=200 clean, N=1000 no-op: ~2 minutes
    .venv/bin/python benchmarks/build_vs_make.py --sizes 100 --repeat 1 # quicker
    .venv/bin/python benchmarks/build_vs_make.py --markdown            # the table for docs/performance.md
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: as a user's shell has it: Python caches bytecode (an environment that sets PYTHONDONTWRITEBYTECODE would
#: compile taskgraph's modules at every start, ~0.2 s more)
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(REPO)}
CFLAGS = "-O1 -Wall"

HEADER = """#ifndef H{i}_H
#define H{i}_H
#define H{i}_SCALE {scale}
typedef struct {{ long a, b; }} Pair{i};
long h{i}_mix(long x);
static inline long h{i}_twice(long x) {{ return 2 * x + H{i}_SCALE; }}
#endif
"""

SOURCE = """#include "h{a}.h"
#include "h{b}.h"
#include "h{c}.h"

static long step{i}(long x)
{{
    long total = 0;
    for (long k = 0; k < 64; k++)
        total += (x * k + h{a}_twice(k)) % (k + 3) - h{b}_twice(k) / (k + 1);
    return total + H{c}_SCALE;
}}

static long table{i}[32];

long f{i}(long x)
{{
    Pair{a} p = {{ x, x + 1 }};
    for (int k = 0; k < 32; k++)
        table{i}[k] = step{i}(p.a + k) ^ (p.b << (k % 7));
    long acc = 0;
    for (int k = 0; k < 32; k++)
        acc += table{i}[k] % 1000;
    return acc + {i};
}}
"""

MAIN = """#include <stdio.h>
{declarations}
int main(void)
{{
    long total = 0;
{calls}
    printf("%ld\\n", total);
    return 0;
}}
"""

MAKEFILE = """CC = gcc
CFLAGS = {cflags}
SRCS = $(wildcard src/*.c)
OBJS = $(patsubst src/%.c,out/obj/%.o,$(SRCS))

out/prog: out/obj/main.o out/libgen.a
\t$(CC) $^ -o $@

out/libgen.a: $(OBJS)
\trm -f $@ && ar rcs $@ $^

out/obj/main.o: main.c | out/obj
\t$(CC) $(CFLAGS) -Iinclude -c $< -o $@ -MMD -MF out/obj/main.d

out/obj/%.o: src/%.c | out/obj
\t$(CC) $(CFLAGS) -Iinclude -c $< -o $@ -MMD -MF out/obj/$*.d

out/obj:
\tmkdir -p $@

-include $(wildcard out/obj/*.d)
"""

NINJA = """cflags = {cflags}
rule cc
  command = gcc $cflags -Iinclude -c $in -o $out -MMD -MF $out.d
  depfile = $out.d
  deps = gcc
rule ar
  command = rm -f $out && ar rcs $out $in
rule link
  command = gcc $in -o $out
{compiles}
build out/obj/main.o: cc main.c
build out/libgen.a: ar {objects}
build out/prog: link out/obj/main.o out/libgen.a
"""

PIPELINE = """from pathlib import Path

from taskgraph import shell

HERE = Path(__file__).resolve().parent
OBJ = HERE / "out" / "obj"
OBJ.mkdir(parents=True, exist_ok=True)
CFLAGS = {cflags!r}.split()


def cc(name, source):
    obj, dep = OBJ / f"{{name}}.o", OBJ / f"{{name}}.d"
    return shell(f"cc {{name}}", ["gcc", *CFLAGS, "-Iinclude", "-c", source, "-o", obj, "-MMD", "-MF", dep],
                 cwd=HERE, inputs=[HERE / source], outputs=[obj], depfile=dep)


objects = [cc(p.stem, f"src/{{p.name}}") for p in sorted((HERE / "src").glob("*.c"))]
main = cc("main", "main.c")
archive = shell("ar", ["sh", "-c", 'rm -f "$1" && ar rcs "$@"', "ar", HERE / "out" / "libgen.a",
                       *(OBJ / f"{{t.name[3:]}}.o" for t in objects)],
                outputs=[HERE / "out" / "libgen.a"]).require(*objects)
link = shell("link", ["gcc", OBJ / "main.o", HERE / "out" / "libgen.a", "-o", HERE / "out" / "prog"],
             outputs=[HERE / "out" / "prog"]).require(main, archive)
"""


def generate(root: Path, n: int, headers: int) -> int:
    """Write the tree: sources, headers, a main, and each tool's build file. Returns what the program prints."""
    (root / "src").mkdir(parents=True)
    (root / "include").mkdir()
    for i in range(headers):
        (root / "include" / f"h{i}.h").write_text(HEADER.format(i=i, scale=i + 1))
    for i in range(n):
        a, b, c = i % headers, (i * 7 + 1) % headers, (i * 13 + 5) % headers
        (root / "src" / f"s{i:04d}.c").write_text(SOURCE.format(i=i, a=a, b=b, c=c))
    declarations = "".join(f"long f{i}(long x);\n" for i in range(n))
    calls = "".join(f"    total += f{i}({i % 5});\n" for i in range(n))
    (root / "main.c").write_text(MAIN.format(declarations=declarations, calls=calls))
    (root / "Makefile").write_text(MAKEFILE.format(cflags=CFLAGS))
    compiles = "".join(f"build out/obj/s{i:04d}.o: cc src/s{i:04d}.c\n" for i in range(n))
    objects = " ".join(f"out/obj/s{i:04d}.o" for i in range(n))
    (root / "build.ninja").write_text(NINJA.format(cflags=CFLAGS, compiles=compiles, objects=objects))
    (root / "pipeline.py").write_text(PIPELINE.format(cflags=CFLAGS))
    return -1


def commands(tool: str, jobs: int, root: Path) -> list[str]:
    if tool == "make":
        return ["make", f"-j{jobs}", "-s"]
    if tool == "ninja":
        return ["ninja", f"-j{jobs}"]
    return [sys.executable, "-m", "taskgraph", "run", "pipeline.py", "-j", str(jobs), "-q",
            "--record", str(root / "out" / "run.jsonl")]


def clean(tool: str, root: Path) -> None:
    shutil.rmtree(root / "out", ignore_errors=True)
    for state in (".taskgraph", ".ninja_log", ".ninja_deps"):
        path = root / state
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


CPU: dict[str, list[float]] = {}  # "tool scenario" -> CPU seconds of each build's whole process tree


def build(tool: str, jobs: int, root: Path, scenario: str = "") -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(commands(tool, jobs, root), cwd=root, capture_output=True, text=True, env=ENV)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{tool} failed in {root}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    if scenario:
        CPU.setdefault(f"{tool} {scenario}", []).append(
            after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return took


def check_program(root: Path) -> str:
    return subprocess.run([root / "out" / "prog"], capture_output=True, text=True, check=True).stdout


def check_noop(tool: str, root: Path) -> None:
    """The tool's own word that nothing is left to do, or its record that nothing ran."""
    if tool == "make":
        ok = subprocess.run(["make", "-q"], cwd=root).returncode == 0
    elif tool == "ninja":
        ok = "no work to do" in subprocess.run(["ninja", "-n"], cwd=root, capture_output=True, text=True).stdout
    else:
        sys.path.insert(0, str(REPO))
        from taskgraph.runrecord import read_record

        ok = all(t.uptodate for t in read_record(root / "out" / "run.jsonl").tasks)
    if not ok:
        raise SystemExit(f"{tool}: the no-op build ran something in {root}")


def edit_source(root: Path, round_: int) -> None:
    path = root / "src" / "s0000.c"
    path.write_text(path.read_text().replace(f"return acc + {round_};", f"return acc + {round_ + 1};"))


def edit_header(root: Path, round_: int) -> None:
    path = root / "include" / "h0.h"
    path.write_text(path.read_text().replace(f"#define H0_SCALE {round_ + 1}", f"#define H0_SCALE {round_ + 2}"))


def run(args: argparse.Namespace) -> list[tuple[str, int, dict[str, tuple[float, float, float]]]]:
    tools = ["make", *(["ninja"] if shutil.which("ninja") else []), "taskgraph"]
    results: list[tuple[str, int, dict[str, tuple[float, float, float]]]] = []
    base = Path(tempfile.mkdtemp(prefix="build_vs_make-"))
    try:
        for n in args.sizes:
            trees = {}
            for tool in tools:
                trees[tool] = base / f"{tool}-{n}"
                generate(trees[tool], n, args.headers)
            times: dict[tuple[str, str], list[float]] = {}
            scenarios = ["clean", "no-op", "one .c", "header"] if n <= args.most_clean else ["no-op"]
            for r in range(args.repeat):
                order = tools[r % len(tools):] + tools[:r % len(tools)]
                for tool in order:
                    root = trees[tool]
                    clean(tool, root)
                    if "clean" not in scenarios:  # built once, untimed
                        build(tool, args.jobs, root)
                    else:
                        times.setdefault((tool, "clean"), []).append(build(tool, args.jobs, root, "clean"))
                    printed = check_program(root)
                    times.setdefault((tool, "no-op"), []).append(build(tool, args.jobs, root, "no-op"))
                    check_noop(tool, root)
                    if "one .c" in scenarios:
                        edit_source(root, r)
                        times.setdefault((tool, "one .c"), []).append(build(tool, args.jobs, root, "one .c"))
                        assert check_program(root) != printed, f"{tool}: the edit did not reach the program"
                        edit_header(root, r)
                        times.setdefault((tool, "header"), []).append(build(tool, args.jobs, root, "header"))
                    print(f"  N={n} round {r + 1} {tool}: " + ", ".join(
                        f"{s} {times[tool, s][-1]:.2f} s" for s in scenarios), file=sys.stderr, flush=True)
            for tool in tools:
                results.append((tool, n, {s: (statistics.median(times[tool, s]), min(times[tool, s]),
                                              statistics.median(CPU.pop(f"{tool} {s}")))
                                          for s in scenarios}))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return results


def report(results: list[tuple[str, int, dict[str, tuple[float, float, float]]]], args: argparse.Namespace) -> str:
    load = os.getloadavg()[0]
    lines = [f"gcc {CFLAGS}, -j {args.jobs}, {args.headers} headers, {args.repeat} runs each; "
             f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs, load average "
             f"{load:.1f} at the end", "",
             "Each cell: the median wall time (the fastest run), ratio of medians to make's; then the median CPU "
             "time of the build's whole process tree (the tool and every command it ran).", ""]
    tools = list(dict.fromkeys(tool for tool, _, _ in results))
    make = {(n, s): t for tool, n, figures in results if tool == "make" for s, t in figures.items()}
    lines.append("| N | scenario | " + " | ".join(tools) + " |")
    lines.append("|---|---|" + "---|" * len(tools))
    rows: dict[tuple[int, str], list[str]] = {}
    for tool, n, figures in results:
        for scenario, (median, fastest, cpu) in figures.items():
            base = make.get((n, scenario))
            ratio = f", {median / base[0]:.2f}x" if tool != "make" and base and base[0] else ""
            rows.setdefault((n, scenario), []).append(f"{median:.3f} s ({fastest:.3f}){ratio}; CPU {cpu:.2f} s")
    for (n, scenario), cells in rows.items():
        lines.append(f"| {n} | {scenario} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[200, 1000],
                        help="translation units per tree (default 200,1000)")
    parser.add_argument("--most-clean", type=int, default=300,
                        help="trees up to this size are timed for every scenario; larger ones for no-op only")
    parser.add_argument("--headers", type=int, default=20, help="shared headers (default 20)")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", action="store_true", help="(the table is markdown either way)")
    args = parser.parse_args(argv)
    for tool in ("gcc", "make", "ar"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH")
    print(report(run(args), args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
