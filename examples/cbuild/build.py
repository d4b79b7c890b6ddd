"""Build tally, a small C program (25 translation units, shared headers, a static library), with shell tasks.

    taskgraph run examples/cbuild/build.py -j 2            # build out/tally beside this file
    taskgraph run examples/cbuild/build.py -j 2            # again: every task up to date, no command runs
    taskgraph run examples/cbuild/build.py -k -j 2         # after breaking files: every broken file reported
    taskgraph run examples/cbuild/build.py -D out=/tmp/tally -D cflags='-O2 -Wall'
    taskgraph list examples/cbuild/build.py                # the tasks and their commands

The graph: one compile per .c file (``cc src/map.c``, ..., ``cc tally.c``), each writing an object and a depfile
(``gcc -MD -MF``) so that the headers it includes become its inputs; ``ar libtally.a`` archives the objects of
src/; ``link tally`` links the program. Touching a header recompiles exactly the files that include it; the
archive and the link run again only if an object changed.

Parameters (``-D NAME=VALUE``): ``out`` (the build folder, default ``out`` beside this file), ``cc`` (default
``gcc``), ``cflags`` (default ``-O1 -Wall``).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from taskgraph import params, shell

HERE = Path(__file__).resolve().parent
OUT = (HERE / params.get("out", "out")).resolve()
CC = params.get("cc", "gcc")
CFLAGS = shlex.split(params.get("cflags", "-O1 -Wall"))

(OUT / "obj").mkdir(parents=True, exist_ok=True)  # the compiler writes into it, but does not make it


def compile_c(source: Path):
    """The task that compiles ``source`` (relative to this folder) into an object, with its depfile."""
    obj = OUT / "obj" / source.with_suffix(".o").name
    depfile = obj.with_suffix(".d")
    return shell(f"cc {source.as_posix()}",
                 [CC, *CFLAGS, "-Iinclude", "-c", source, "-o", obj, "-MD", "-MF", depfile],
                 cwd=HERE, inputs=[HERE / source], outputs=[obj], depfile=depfile)


library = [compile_c(c.relative_to(HERE)) for c in sorted((HERE / "src").glob("*.c"))]
main = compile_c(Path("tally.c"))

# ar only adds to an archive: start from none, so that an object left from a removed source is not kept
archive = shell("ar libtally.a", ["sh", "-c", 'rm -f "$1" && ar rcs "$@"', "ar", OUT / "libtally.a",
                                  *(t.files.outputs[0] for t in library if t.files)],
                outputs=[OUT / "libtally.a"]).require(*library)
link = shell("link tally", [CC, OUT / "obj" / "tally.o", OUT / "libtally.a", "-lm", "-o", OUT / "tally"],
             outputs=[OUT / "tally"]).require(main, archive)
