"""The frozen binary's entry point (bundles/gate.spec builds it with PyInstaller).

freeze_support() comes first: a frozen program re-enters through this file in every
process that multiprocessing starts with the "spawn" method. `--llama-cpu-probe` is the
child that server/core/llama_runtime.py starts to prove a llama.cpp CPU variant (a frozen
program has no `python -m`).
"""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    if sys.argv[1:2] == ["--llama-cpu-probe"]:  # server/core/llama_runtime.py proves a CPU variant here
        from server.core.llama_probe import main

        sys.exit(main(sys.argv[2:]))
    from cli.main import run

    run()
