"""Typed configs: every shipped config parses, a wrong type is one line naming key, expected and given type.

A file in ``configs/`` names its config class by its prefix (:data:`CONFIG_CLASSES`).
"""

from __future__ import annotations

import inspect
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from subgrid.cli.main import app
from subgrid.core.errors import InputError
from subgrid.gravity_waves.column.training import GWTrainingConfig
from subgrid.gravity_waves.gridded.pretrain import PretrainConfig
from subgrid.gravity_waves.gridded.training import GriddedGWTrainingConfig
from subgrid.models import COLUMN_BACKBONES, GRIDDED_BACKBONES
from subgrid.radiation.training import RadiationTrainingConfig

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
#: File-name prefix of a shipped config -> the class it holds the keys of.
CONFIG_CLASSES = {
    "radiation_": RadiationTrainingConfig,
    "gw_column_": GWTrainingConfig,
    "gw_gridded_": GriddedGWTrainingConfig,
    "pretrain_": PretrainConfig,
}


def config_class(path: Path) -> type:
    matches = [cls for prefix, cls in CONFIG_CLASSES.items() if path.name.startswith(prefix)]
    assert len(matches) == 1, f"{path.name}: name it with one of the prefixes {', '.join(CONFIG_CLASSES)}"
    return matches[0]


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_parses_into_its_class(path):
    config = config_class(path).from_yaml(path)
    config.backbone_options()  # the model's options build an option dataclass
    assert type(config).from_dict(config.to_dict()) == config  # and survive a round trip


def one_line_error(tmp_path: Path, cls: type, text: str) -> str:
    path = tmp_path / "train.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        cls.from_yaml(path)
    message = str(error.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epochs: lots\n", "epochs: expected int, got str 'lots'"),
        ("batch_size: 16.7\n", "batch_size: expected int, got float 16.7"),
        ('in_memory: "no"\n', "in_memory: expected bool or None, got str 'no'"),
        ("learning_rate: true\n", "learning_rate: expected float, got bool True"),
        ("optimizer: adam\n", "optimizer: expected one of 'sgd', 'adamw', got str 'adam'"),
        ("model: unet\n", "model: expected one of 'rescnn', 'mlp', got str 'unet'"),
        ("model_options: {width: wide}\n", "model_options.width: expected int, got str 'wide'"),
        ("model_options: {widht: 32}\n", "unknown key(s) model_options.widht"),
        ("epoch: 3\n", "unknown key(s) epoch"),
        ("epochs: [1, 2\n", "line 2, column 1: not valid YAML"),
        ("- 1\n- 2\n", "expected a mapping of settings, got list [1, 2]"),
        ("epochs: -1\n", "invalid epochs=-1"),
    ],
)
def test_a_wrong_value_is_one_line_naming_key_expected_and_given(tmp_path, text, message):
    assert one_line_error(tmp_path, RadiationTrainingConfig, text).startswith(message)


def test_int_is_accepted_for_float_and_yaml_lists_for_sequences(tmp_path):
    path = tmp_path / "gridded.yaml"
    path.write_text("learning_rate: 1\ntarget_levels: [0, 3]\nmodel: prithvi\nmodel_options: {window: [4, 8], fine_tune: lora}\n")
    config = GriddedGWTrainingConfig.from_yaml(path)
    assert config.learning_rate == 1.0 and isinstance(config.learning_rate, float)
    assert config.backbone_options().window == (4, 8)
    message = one_line_error(tmp_path, GriddedGWTrainingConfig, "target_levels: [0, x]\n")
    assert message == "target_levels[1]: expected int, got str 'x'"
    message = one_line_error(tmp_path, GriddedGWTrainingConfig, "model: prithvi\nmodel_options: {fine_tune: some}\n")
    assert message.startswith("model_options.fine_tune: expected one of 'full', 'frozen', 'last_k', 'lora', got str 'some'")


def test_model_names_and_options_come_from_one_registry():
    assert COLUMN_BACKBONES.names() == ("rescnn", "mlp", "wavenet")
    assert GRIDDED_BACKBONES.names() == ("unet", "prithvi")
    assert GWTrainingConfig.backbones is COLUMN_BACKBONES and GriddedGWTrainingConfig.backbones is GRIDDED_BACKBONES
    assert set(RadiationTrainingConfig.backbones.names()) <= set(COLUMN_BACKBONES.names())


@pytest.mark.parametrize("registry", [COLUMN_BACKBONES, GRIDDED_BACKBONES], ids=["column", "gridded"])
def test_option_dataclasses_match_their_networks_keyword_arguments(registry):
    for name in registry.names():
        backbone = registry[name]
        parameters = inspect.signature(backbone.network.__init__).parameters
        keywords = {k: p.default for k, p in parameters.items() if p.kind is p.KEYWORD_ONLY and k != "n_levels"}
        options = {f.name: f.default for f in fields(backbone.options)}
        assert MISSING not in options.values()
        assert options == keywords, name


def test_command_line_model_options_are_read_as_their_types():
    values = GRIDDED_BACKBONES.option_values("prithvi", ["window=[8,16]", "fine_tune=lora", "lora_alpha=null",
                                                         "pretrained=123.pt", "dropout=0"])  # fmt: skip
    assert values == {"window": [8, 16], "fine_tune": "lora", "lora_alpha": None, "pretrained": "123.pt", "dropout": 0}
    with pytest.raises(InputError, match=r"^--model-option: model_options.width: expected int, got str 'wide'$"):
        COLUMN_BACKBONES.option_values("rescnn", ["width=wide"])
    with pytest.raises(InputError, match="unknown key.*model_options.widht"):
        COLUMN_BACKBONES.option_values("rescnn", ["widht=3"])


runner = CliRunner()


def test_cli_wrong_typed_yaml_value_exits_2_with_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: lots\n")
    result = runner.invoke(app, ["train", "radiation", "--data", str(tmp_path / "x.zarr"), "--out", str(tmp_path / "run"),
                                 "--config", str(bad)])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {bad}: epochs: expected int, got str 'lots'"]


@pytest.mark.parametrize(
    ("command", "option", "message"),
    [
        (["train", "radiation"], "width=wide", "model_options.width: expected int, got str 'wide'"),
        (["train", "gw"], "hiden=3", "unknown key(s) model_options.hiden"),
        (["train", "gw-gridded"], "norm=instance", "model_options.norm: expected one of"),
        (["pretrain"], "fine_tune=lora", "pretrain config: invalid model_options"),
    ],
)
def test_cli_bad_model_option_exits_2_with_one_line(tmp_path, command, option, message):
    result = runner.invoke(app, [*command, "--data", str(tmp_path / "x.zarr"), "--out", str(tmp_path / "run"),
                                 "--model-option", option])  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_cli_help_shows_the_config_defaults():
    command = typer.main.get_command(app).commands["train"].commands["radiation"]
    helps = {parameter.name: parameter.help for parameter in command.params}
    for name in ("epochs", "batch_size", "learning_rate", "accelerator"):
        assert helps[name].endswith(f"(default: the config's, else {RadiationTrainingConfig.default(name)}).")
    assert helps["model"].startswith("Backbone: rescnn | mlp ")
