"""The command-line arguments every inference benchmark shares."""

from __future__ import annotations

import argparse

import torch


def benchmark_parser(doc: str | None) -> argparse.ArgumentParser:
    """A parser with the module's docstring as its help, ``--threads`` and ``--out``."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--out", default=None, help="also write the table to this Markdown file")
    return parser


def parse_benchmark_arguments(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and set torch's CPU threads before anything runs."""
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args
