"""``lfmri``: the command line (works without any GUI).

Commands: ``info`` (what a file holds), ``sample`` (make the synthetic sample data), ``recon``
(undersample and reconstruct a volume, scored against its reference), ``list`` (registered
masks and methods), ``demo`` (the main job on the sample data), ``train`` (Net_c and the learned
reconstruction models, :mod:`lfmri_core.training`) and ``evaluate`` (the paper's tables on a
held-out test set, :mod:`lfmri_core.study`).

Bad input ends with one line ``lfmri: error: <problem>`` on stderr and exit status 2; no
traceback, and nothing on stdout before it. A part of an input that is skipped (a CSV beside
the volume that is not a fastMRI+ annotation CSV) or dropped (a lesion box entirely outside
the image) is one line ``lfmri: warning: <what>``, and the command goes on. Input files are
opened read-only and protected while a command runs: an output that is one of them (or another
output of the same command) is refused before anything is written
(:mod:`lfmri_core.io.protected`); outputs are written atomically.

Long commands show tqdm progress bars on stderr, one per stage, when stderr is a terminal;
``--quiet`` turns them off and ``LFMRI_PROGRESS=1`` forces them on (:mod:`lfmri_core.progress`).

The package: :mod:`._common` (what the commands share), one module per command group with its
options and its implementation (:mod:`._files`: ``info``, ``list``, ``sample``; :mod:`._recon`;
:mod:`._study`: ``demo``, ``evaluate``; :mod:`._train`), and here the parser and :func:`main`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from lfmri_core.cli import _files, _recon, _study, _train
from lfmri_core.cli._common import _Parser
from lfmri_core.errors import InputError

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "build_parser", "main"]

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    """The ``lfmri`` parser: the global options, then each command group's commands."""
    from lfmri_core import __version__

    parser = _Parser(prog="lfmri", description="Lesion-focused accelerated MRI: data, masks, reconstruction, metrics.",
                     epilog="Long commands draw progress bars on stderr when it is a terminal: --quiet turns them "
                            "off, the environment variable LFMRI_PROGRESS=1 draws them into any stream (a log file) "
                            "and LFMRI_PROGRESS=0 never.")
    parser.add_argument("--version", action="version", version=f"lfmri {__version__}", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND",
                                help="what to do (each has its own --help)")
    for group in (_files, _recon, _study, _train):
        group.register(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
    print(f"lfmri: warning: {message}", file=sys.stderr)


def _out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says memory ran out: Python's MemoryError, torch's (GPU)
    OutOfMemoryError, or torch's CPU allocator failing."""
    return (isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError"
            or "can't allocate memory" in str(error))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lfmri`` command."""
    try:
        args = build_parser().parse_args(argv)
        with warnings.catch_warnings():
            # Warnings (say, a GPU request falling back to the CPU) are one line each too.
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return int(args.func(args))
    except InputError as err:
        print(f"lfmri: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:
        print(f"lfmri: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_BAD_INPUT
    except (MemoryError, RuntimeError) as err:
        if not _out_of_memory(err):
            raise
        reason = " ".join(str(err).split())
        print(f"lfmri: error: out of memory{f' ({reason[:200]})' if reason else ''}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("lfmri: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
