#!/usr/bin/env python3
"""Fails when the folders under lib/ include each other in a circle.

Each folder is one concern and may include only folders below it (core at the bottom), so a
change can be made in one folder without rebuilding the picture of the rest. Prints the folders
in an order that respects every include, or the cycle with the include lines that make it.
"""
import re
import sys
from pathlib import Path

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"')


def edges(lib: Path):
    """{(from, to): 'file:line'} for every include of another folder's header."""
    found = {}
    for path in sorted(lib.rglob("*")):
        if path.suffix not in (".hpp", ".cpp", ".h") or path.parent == lib:
            continue
        folder = path.relative_to(lib).parts[0]
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if m and m.group(1) != folder and (lib / m.group(1)).is_dir():
                found.setdefault((folder, m.group(1)), f"{path.relative_to(lib.parent)}:{number}")
    return found


def find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def layers(graph, folders):
    order, placed = [], set()
    while len(placed) < len(folders):
        ready = sorted(f for f in folders if f not in placed and graph.get(f, set()) <= placed)
        order.append(ready)
        placed.update(ready)
    return order


def main():
    lib = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "lib")
    found = edges(lib)
    folders = sorted(p.name for p in lib.iterdir() if p.is_dir())
    graph = {}
    for a, b in found:
        graph.setdefault(a, set()).add(b)
    cycle = find_cycle(graph)
    if cycle:
        print("lib/ folders include each other in a circle:")
        for a, b in zip(cycle, cycle[1:]):
            print(f"  {a} -> {b}   ({found[(a, b)]})")
        return 1
    print("lib/ folders, bottom first (each includes only folders on earlier lines):")
    for level in layers(graph, folders):
        print("  " + " ".join(level))
    return 0


if __name__ == "__main__":
    sys.exit(main())
