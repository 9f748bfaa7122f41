"""Options as dataclass fields that carry their own description, range and choices.

Each backend declares its options this way next to its code; the CLI flags, the node's ROS
parameters (with descriptors) and the YAML defaults are generated from the fields, and
:func:`check_option` validates a value wherever it comes from.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: A validator beyond type, range and choices: the reason a value is refused, or None.
Check = Callable[[Any], "str | None"]


def option(
    default: Any,
    description: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] | None = None,
    check: Check | None = None,
    load_time: bool = False,
) -> Any:
    """A dataclass field with its metadata. ``load_time``: it shapes the model or the node's
    subscriptions, so the node accepts a change only while unconfigured."""
    return dataclasses.field(
        default=default,
        metadata={
            "description": description,
            "low": low,
            "high": high,
            "choices": choices,
            "check": check,
            "load_time": load_time,
        },
    )


@dataclass(frozen=True)
class OptionSpec:
    name: str
    default: Any
    description: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    check: Check | None = None
    load_time: bool = False

    @property
    def value_type(self) -> type:
        return type(self.default)


def option_specs(options_class: type) -> list[OptionSpec]:
    """The fields of an options dataclass, in declaration order."""
    return [
        OptionSpec(
            f.name,
            f.default,
            f.metadata.get("description", ""),
            f.metadata.get("low"),
            f.metadata.get("high"),
            f.metadata.get("choices"),
            f.metadata.get("check"),
            bool(f.metadata.get("load_time")),
        )
        for f in dataclasses.fields(options_class)
    ]


def check_option(spec: OptionSpec, value: Any, name: str | None = None) -> str | None:
    """None when ``value`` is acceptable, else why not (strict on type, like ROS: a double given 0
    instead of 0.0 is refused)."""
    name = name or spec.name
    if type(value) is not spec.value_type:
        return f"{name} must be a {spec.value_type.__name__}, got {value!r}"
    if (
        isinstance(value, (int, float))
        and spec.low is not None
        and spec.high is not None
        and not (spec.low <= value <= spec.high)
    ):
        return f"{name} must be in [{spec.low}, {spec.high}], got {value}"
    if spec.choices and value not in spec.choices:
        return f"{name} must be one of {', '.join(spec.choices)}, got {value!r}"
    problem = spec.check(value) if spec.check else None
    return f"{name}: {problem}" if problem else None


def build_options(options_class: type, values: Mapping[str, Any], where: str = "") -> Any:
    """An options object from ``values`` (unset fields keep their defaults); ValueError names the
    bad key and ``where`` it came from."""
    specs = {spec.name: spec for spec in option_specs(options_class)}
    prefix = f"{where}: " if where else ""
    unknown = sorted(set(values) - set(specs))
    if unknown:
        raise ValueError(f"{prefix}unknown option(s) {', '.join(unknown)}; known: {', '.join(specs) or 'none'}")
    for key, value in values.items():
        problem = check_option(specs[key], value)
        if problem:
            raise ValueError(prefix + problem)
    return options_class(**values)


def check_device(value: str) -> str | None:
    if value in ("auto", "cpu", "cuda") or (value.startswith("cuda:") and value[5:].isdigit()):
        return None
    return f"must be auto, cpu, cuda or cuda:N, got {value!r}"


DEVICE_HELP = "where the model runs: auto (a GPU when there is one), cpu, cuda or cuda:N"
