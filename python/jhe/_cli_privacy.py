"""The CLI's de-identification options, shared by every command that fetches or lists."""

from __future__ import annotations

import argparse
from typing import Any

from jhe._deidentify import DEFAULT_SHIFT_DAYS, ENV_KEY, MODES


def add_arguments(parser: argparse.ArgumentParser, *, modes: tuple[str, ...] = MODES) -> None:
    """``--deidentify [MODE]`` and ``--date-shift-days N``; the key comes from JHE_DEID_KEY
    (never from the command line, where shell history and ``ps`` would show it)."""
    parser.add_argument(
        "--deidentify", nargs="?", const="pseudonymize", choices=list(modes), metavar="MODE",
        help=f"de-identify with the key in ${ENV_KEY}: {' or '.join(modes)} (default: pseudonymize)",
    )
    parser.add_argument(
        "--date-shift-days", type=int, default=DEFAULT_SHIFT_DAYS,
        help=f"--deidentify pseudonymize: the widest date shift, in days (default {DEFAULT_SHIFT_DAYS})",
    )


def settings(args: argparse.Namespace) -> Any:
    """The :class:`jhe.Deidentification` the options ask for, or None."""
    if not args.deidentify:
        return None
    from jhe._deidentify import Deidentification

    return Deidentification(mode=args.deidentify, date_shift_days=args.date_shift_days)
