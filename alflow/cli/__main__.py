"""``python -m alflow.cli``: the same as the ``alflow`` command."""

from alflow.cli import main

if __name__ == "__main__":
    main()
