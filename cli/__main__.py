"""`python -m cli` runs the gate CLI (the console script is `gate`)."""

from cli.main import run

run()
