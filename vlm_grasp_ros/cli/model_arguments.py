"""The backends' options as command-line flags, generated from the registry.

Every option of every backend becomes ``--<name>`` (``model_path`` -> ``--model-path``); an
option several backends share is one flag. Flags left out keep the backend's default, and a
flag that none of the chosen backends has is refused.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from vlm_grasp_ros.core.options import OptionSpec, check_option, option_specs
from vlm_grasp_ros.core.predictors.registry import BACKENDS, backend


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _options_by_name() -> dict[str, list[tuple[str, OptionSpec]]]:
    """option name -> [(backend, spec)], in registry order."""
    table: dict[str, list[tuple[str, OptionSpec]]] = {}
    for name, entry in BACKENDS.items():
        for spec in option_specs(entry.options):
            table.setdefault(spec.name, []).append((name, spec))
    return table


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("backend options (each applies to the backends named in brackets)")
    for name, users in _options_by_name().items():
        spec = users[0][1]
        defaults = {str(s.default) for _, s in users}
        default_text = f"default {defaults.pop()}" if len(defaults) == 1 else "default: the backend's"
        help_text = f"[{', '.join(b for b, _ in users)}] {spec.description} ({default_text})"
        if spec.value_type is bool:
            group.add_argument(
                _flag(name), dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        else:
            group.add_argument(
                _flag(name), dest=name, type=spec.value_type, default=None, choices=spec.choices, help=help_text
            )


def backend_options(args: argparse.Namespace, backends: Sequence[str]) -> dict[str, dict[str, Any]]:
    """backend -> the option values given on the command line for it (checked against its
    options: a bad value or a flag no chosen backend has is a ValueError naming the flag)."""
    given = {name: getattr(args, name) for name in _options_by_name() if getattr(args, name, None) is not None}
    values: dict[str, dict[str, Any]] = {name: {} for name in backends}
    used = set()
    for name in backends:
        specs = {spec.name: spec for spec in option_specs(backend(name).options)}
        for option_name, value in given.items():
            if option_name in specs:
                problem = check_option(specs[option_name], value, _flag(option_name))
                if problem:
                    raise ValueError(problem)
                values[name][option_name] = value
                used.add(option_name)
    unused = [_flag(name) for name in given if name not in used]
    if unused:
        raise ValueError(f"{', '.join(unused)}: not an option of backend {', '.join(backends)}")
    return values
