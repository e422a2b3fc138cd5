"""Import time of `csrules`: the median of several fresh interpreters.

Each run is `python -X importtime -c "import csrules"` in a new process; the figure is the
cumulative time of the `csrules` line (microseconds, printed in ms). Bytecode is written to and read
from a temporary cache (PYTHONPYCACHEPREFIX), whatever PYTHONDONTWRITEBYTECODE says, after one
warm-up run: compiling the sources is a one-off cost of a fresh checkout, not of an import. Also
printed: the median wall time of `import csrules; csrules.load()` (the first call a service makes)
and the csrules modules `import csrules` loads.

Run:  .venv/bin/python benchmarks/bench_import.py [--runs 15] [--src DIR]
      (--src: import csrules from another source tree, e.g. an unpacked older commit, to compare)
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

CUMULATIVE = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| csrules$", re.MULTILINE)
LOAD = "import time; s = time.perf_counter(); import csrules; csrules.load(); print(time.perf_counter() - s)"
MODULES = "import sys, csrules; print(' '.join(sorted(m for m in sys.modules if m.startswith('csrules'))))"


def run(code: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *flags, "-c", code]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per figure (default 15)")
    parser.add_argument("--src", help="a directory containing the csrules package to import instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        if args.src:
            env["PYTHONPATH"] = os.path.abspath(args.src)
        run(LOAD, env)  # warm-up: writes the bytecode cache
        imports = []
        for _ in range(args.runs):
            found = CUMULATIVE.search(run("import csrules", env, "-X", "importtime").stderr)
            if found is None:
                raise RuntimeError("no `csrules` line in the -X importtime output")
            imports.append(int(found.group(1)) / 1000)
        loads = [float(run(LOAD, env).stdout) * 1000 for _ in range(max(3, args.runs // 3))]
        modules = run(MODULES, env).stdout.split()
    imports.sort()
    print(
        f"import csrules: median {statistics.median(imports):.0f} ms over {len(imports)} fresh processes",
        end="",
    )
    print(f" (min {imports[0]:.0f}, max {imports[-1]:.0f})")
    median_load = statistics.median(loads)
    print(f"import csrules + csrules.load(): median {median_load:.0f} ms over {len(loads)} processes")
    print(f"csrules modules loaded by the import ({len(modules)}): {' '.join(modules)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
