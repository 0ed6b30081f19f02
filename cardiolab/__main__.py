"""``python -m cardiolab`` runs the command-line interface."""
from cardiolab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
