"""Depfiles: the make rules a compiler writes (``gcc -MD -MF x.d``) listing the files a compile read.

The format is make's, as gcc, clang and ninja write and read it::

    out/main.o out/main.d: src/main.c src/util.h \\
      include/my\\ header.h
    src/util.h:

Each rule is ``TARGET...: PREREQUISITE...``; a backslash at the end of a line continues it; a space in a path is
written ``\\ ``, a ``#`` as ``\\#``, a ``$`` as ``$$``; other backslashes are part of the path (``C:\\src``).
Several rules may follow each other (``-MP`` adds an empty rule per header): the prerequisites of all of them are
what the compile read. A line whose first word starts with ``#`` is a comment.
"""

from __future__ import annotations

import os

__all__ = ["DepfileError", "parse_depfile", "read_depfile"]


class DepfileError(ValueError):
    """A depfile is not in make's format; the message says where."""


def _words(line: str, lineno: int) -> tuple[list[str], list[str]]:
    """The targets and prerequisites of one logical line (continuations joined)."""
    targets: list[str] | None = None
    words: list[str] = []
    word: list[str] = []
    started = False  # whether ``word`` holds a word, even an empty one so far
    i, n = 0, len(line)

    def end() -> None:
        nonlocal started
        if started:
            words.append("".join(word))
        word.clear()
        started = False

    while i < n:
        c = line[i]
        if c == "\\":
            j = i
            while j < n and line[j] == "\\":
                j += 1
            count = j - i
            after = line[j] if j < n else ""
            if after in (" ", "\t"):  # 2N+1 backslashes then a space: N backslashes and a space in the path
                word.append("\\" * (count // 2))
                started = True
                if count % 2:
                    word.append(after)
                    j += 1
                i = j
                continue
            if after in ("#", ":") and count % 2:  # \# and \: are the characters themselves
                word.append("\\" * (count // 2) + after)
                started = True
                i = j + 1
                continue
            word.append("\\" * count)
            started = True
            i = j
            continue
        if c in " \t":
            end()
        elif c == "$" and line.startswith("$$", i):
            word.append("$")
            started = True
            i += 1
        elif c == "#" and not started:
            break  # a comment, to the end of the line
        elif c == ":" and not (len(word) == 1 and word[0].isalpha() and line[i + 1:i + 2] in ("\\", "/")):
            end()  # (C:\ or C:/ is a drive, not the separator)
            if targets is not None:
                raise DepfileError(f"line {lineno}: a second ':' in one rule")
            targets, words = words, []
            if line.startswith(":", i + 1):  # "::", make's double-colon rule, reads the same
                i += 1
        else:
            word.append(c)
            started = True
        i += 1
    end()
    if targets is None:
        if words:
            raise DepfileError(f"line {lineno}: no ':' between targets and prerequisites (at {words[0]!r})")
        return [], []
    if not targets:
        raise DepfileError(f"line {lineno}: a rule with no target before its ':'")
    return targets, words


def parse_depfile(text: str) -> list[str]:
    """The prerequisites of every rule in ``text``, in order, each once (as written: relative paths stay relative).

    Raises:
        DepfileError: ``text`` holds no rule, or a line is not a rule.
    """
    text = text.replace("\r\n", "\n")
    found: dict[str, None] = {}
    rules = 0
    logical: list[str] = []
    first = 1
    for lineno, line in enumerate(text.split("\n"), 1):
        if not logical:
            first = lineno
        stripped = line.rstrip(" \t")
        tail = len(stripped) - len(stripped.rstrip("\\"))
        if tail % 2:  # an odd run of backslashes at the end: the line goes on
            logical.append(stripped[:-1])
            logical.append(" ")
            continue
        logical.append(line)
        targets, prerequisites = _words("".join(logical), first)
        logical.clear()
        if targets:
            rules += 1
            found.update(dict.fromkeys(p for p in prerequisites if p))
    if logical:  # a continuation on the last line
        targets, prerequisites = _words("".join(logical), first)
        if targets:
            rules += 1
            found.update(dict.fromkeys(p for p in prerequisites if p))
    if not rules:
        raise DepfileError("it holds no rule (TARGET: PREREQUISITES...)")
    return list(found)


def read_depfile(path: str, cwd: str) -> list[str]:
    """The files the depfile at ``path`` lists, as absolute normalised paths (relative ones taken from ``cwd``,
    where the command ran).

    Raises:
        OSError: it cannot be read.
        DepfileError: it is not in make's format.
    """
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        text = f.read()
    return [os.path.normpath(os.path.join(cwd, p)) for p in parse_depfile(text)]
