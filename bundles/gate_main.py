"""The frozen binary's entry point (bundles/gate.spec builds it with PyInstaller).

freeze_support() comes first: a frozen program re-enters through this file in every
process that multiprocessing starts with the "spawn" method.
"""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from cli.main import run

    run()
