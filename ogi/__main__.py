"""``python -m ogi``: the same command line as the installed ``ogi`` script."""
from ogi.cli import main

if __name__ == "__main__":
    main()
