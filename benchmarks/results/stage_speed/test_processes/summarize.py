"""Where `make test`'s CPU goes: the Python processes the suite starts, from the log that
`sitecustomize.py` (beside this file) writes when its folder is on PYTHONPATH.

    PCOUNT_LOG=/tmp/pc.log PYTHONPATH=benchmarks/results/stage_speed/test_processes \\
        .venv/bin/python -m pytest -q -n 1 --dist loadfile tests
    python benchmarks/results/stage_speed/test_processes/summarize.py /tmp/pc.log IMPORT_SECONDS

IMPORT_SECONDS: the CPU seconds of `import torch` alone on the same machine
(`/usr/bin/time -f %U .venv/bin/python -c "import torch"`)."""
import collections
import sys


def kind(argv: str) -> str:
    if "spawn_main" in argv or "multiprocessing" in argv:
        return "multiprocessing child (eval loops, collect workers, bench jobs)"
    if "torch/distributed/run" in argv or "torchrun" in argv:
        return "torchrun launcher"
    if "robolearn/cli.py" in argv or "robolearn.cli" in argv or "bin/robolearn" in argv:
        return "robolearn CLI"
    if argv.strip("'") == "-c":
        return "python -c (xdist worker, torchrun ranks' helpers, one-line checks)"
    return "other: " + argv[:50]


def main(path: str, import_s: float) -> None:
    starts, exits = {}, {}
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if f[0] == "start":
            starts[f[1]] = f
        elif f[0] == "exit":
            exits[f[1]] = (float(f[2]), f[3] == "1", f[4])
    rows = collections.defaultdict(lambda: [0, 0, 0.0, 0])  # started, exited, cpu, with torch
    for pid in starts:
        cpu, torch_in, argv = exits.get(pid, (0.0, False, "killed or os._exit (no exit record)"))
        r = rows[kind(argv) if pid in exits else "no exit record (killed, or left by os._exit)"]
        r[0] += 1
        r[1] += pid in exits
        r[2] += cpu
        r[3] += torch_in
    print("| processes | exited normally | their CPU (s) | imported torch | kind |\n| --- | --- | --- | --- | --- |")
    for k, (n, e, cpu, t) in sorted(rows.items(), key=lambda kv: -kv[1][2]):
        print(f"| {n} | {e} | {cpu:.0f} | {t} | {k} |")
    n_torch = sum(r[3] for r in rows.values())
    print(f"\n{len(starts)} Python processes; {n_torch} that exited normally imported torch: "
          f"~{n_torch * import_s:.0f} s of CPU at {import_s} s an import (a lower bound: killed ones are not counted).")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
