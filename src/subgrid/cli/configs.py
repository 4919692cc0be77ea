"""Command-line options that mirror training-config fields, and the config a command line describes.

An option that overrides a config field defaults to None ("the config's") and says in its help
the config dataclass's own default, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import replace

import typer


def config_option(config_class: type, field: str, flag: str, help: str, **settings):
    """A ``typer.Option`` overriding ``config_class.field``; its help ends with the dataclass's default."""
    default = config_class.default(field)
    shown = "none" if default is None else default
    return typer.Option(None, flag, help=f"{help} (default: the config's, else {shown}).", **settings)


def model_help(config_class: type, what: str = "Backbone") -> str:
    """``Backbone: rescnn | mlp (default: ...)``: the names of the config's backbone registry."""
    names = " | ".join(config_class.backbones.names())
    return f"{what}: {names} (default: the config's, else {config_class.default('model')})."


def configured(config, overrides: dict, model_option: list[str], extra_options: dict | None = None):
    """``config`` with the command line's settings (those not None) and ``--model-option KEY=VALUE`` pairs,
    each value read as its option's type in the model's option dataclass (:mod:`subgrid.models.options`)."""
    config = replace(config, **{key: value for key, value in overrides.items() if value is not None})
    if model_option or extra_options:
        options = config.backbones.option_values(config.model, model_option)
        config = replace(config, model_options={**config.model_options, **options, **(extra_options or {})})
    return config
