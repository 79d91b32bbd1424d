"""``python -m attnlib``: the command line (:mod:`attnlib.cli`), with Ctrl-C during its
imports answered like Ctrl-C anywhere else: one line, exit status 130."""

import sys


def run() -> None:
    """The ``attnlib`` command."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        print("attnlib: interrupted (Ctrl-C) while starting; nothing was written",
              file=sys.stderr)
        sys.exit(130)
    sys.exit(main())


if __name__ == "__main__":
    run()
