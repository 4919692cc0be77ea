"""PrithviGW: the Prithvi WxC encoder/decoder fine-tuned for gridded gravity-wave fluxes.

Every model here is tiny (embed 32, 2 + 1 local/global blocks, ~0.1M parameters) so the suite
runs on one CPU thread; the architecture is the package's, only the sizes differ from the 2.3B
release. Checkpoints are written by the tests in the released layout: the state dict of a full
``PrithviWxC`` (keys ``encoder.lgl_block.transformers.{i}…``, ``decoder.…``, plus embeddings,
scalers and the decoder's SWIN-shift masks), wrapped in ``model_state`` as
``PrithviWxC.configs.load_model`` reads it.
"""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
import torch
from PrithviWxC.model import PrithviWxC
from test_gw_gridded import fine_tuning_fields, runner, write

from subgrid.cli.main import app
from subgrid.core.errors import InputError
from subgrid.models import GRIDDED_BACKBONES, PrithviGW, build_gridded_backbone
from subgrid.models.prithvi_gw import load_prithvi_backbone
from subgrid.gravity_waves.gridded.training import GriddedGWTrainingConfig, load_gw_gridded_emulator, train_gw_gridded

TINY = {"embed_dim": 32, "n_heads": 4, "n_blocks_encoder": 2, "n_blocks_decoder": 1, "patch": 2, "window": [8, 16]}
#: 2 x (2 x 2 + 1) ... encoder 2n+1 = 5 transformer blocks, decoder 3
N_BLOCKS = 8


def tiny(in_channels: int = 7, out_channels: int = 4, **options) -> PrithviGW:
    torch.manual_seed(0)
    return PrithviGW(in_channels, out_channels, **{**TINY, **options})


def backbone_state(model: PrithviGW) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith(("encoder.", "decoder."))}


def released_layout_checkpoint(path, *, embed_dim: int = 32, n_blocks_encoder: int = 2, dtype=torch.float32) -> dict:
    """A full PrithviWxC (tiny, shifting decoder as released) saved as ``{"model_state": state_dict}``."""
    torch.manual_seed(1)
    c, s = 5, 4
    model = PrithviWxC(
        in_channels=c, input_size_time=2, in_channels_static=s, input_scalers_mu=torch.zeros(c),
        input_scalers_sigma=torch.ones(c), input_scalers_epsilon=0.0, static_input_scalers_mu=torch.zeros(s + 2),
        static_input_scalers_sigma=torch.ones(s + 2), static_input_scalers_epsilon=0.0, output_scalers=torch.ones(c),
        n_lats_px=16, n_lons_px=32, patch_size_px=[2, 2], mask_unit_size_px=[8, 16], mask_ratio_inputs=0.0,
        mask_ratio_targets=0.0, embed_dim=embed_dim, n_blocks_encoder=n_blocks_encoder, n_blocks_decoder=1,
        mlp_multiplier=4, n_heads=4, dropout=0.0, drop_path=0.0, parameter_dropout=0.0, residual="climate",
        masking_mode="both", positional_encoding="fourier", encoder_shifting=False, decoder_shifting=True,
    )  # fmt: skip
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save({"model_state": state, "epoch": 7}, path)
    return state


# --- the network ----------------------------------------------------------------------------


def test_shapes_parameters_and_deterministic_inference():
    model = tiny(dropout=0.3).eval()
    x = torch.randn(2, 7, 32, 64)
    with torch.no_grad():
        y = model(x)
        assert y.shape == (2, 4, 32, 64)
        # No random masking, no shift, and attention dropout off in eval mode (the package applies it always).
        assert torch.equal(y, model(x))
        model.train()
        assert not torch.equal(model(x), model(x))
    parameters = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for part in (model.encoder, model.decoder) for p in part.parameters())
    print(f"PrithviGW tiny: {parameters:,} parameters, backbone {backbone / parameters:.1%}")
    assert len(model.backbone_blocks()) == N_BLOCKS and backbone / parameters > 0.95  # as in the 2.3B model (~98 %)
    assert GRIDDED_BACKBONES["prithvi"].network is PrithviGW
    assert isinstance(build_gridded_backbone("prithvi", 7, 4, TINY), PrithviGW)


def test_the_backbone_contributes_to_the_prediction():
    """Acceptance criterion of issue 7: zeroing the backbone's output changes the predictions.

    The public gravity-wave fine-tune ran PrithviWxC with residual='none' and zero output
    scalers, which zeroes whatever its backbone computes; shown here on the package's model.
    """
    model = tiny().eval()
    x = torch.randn(2, 7, 32, 64)
    with torch.no_grad():
        y = model(x)
        hook = model.decoder.register_forward_hook(lambda module, inputs, output: torch.zeros_like(output))
        without_backbone = model(x)
        hook.remove()
    assert (y - without_backbone).abs().mean() > 0.1 * y.abs().mean()
    for axis in (-2, -1):  # then the prediction is the head's bias, repeated patch by patch
        assert torch.equal(without_backbone, without_backbone.roll(model.patch, axis))

    model.train()
    model(x).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_grid_and_window_settings_are_checked():
    model = tiny()
    with pytest.raises(InputError, match=re.escape("window: the grid 30 x 64 must be divisible by the window 8 x 16")):
        model(torch.randn(1, 7, 30, 64))
    with pytest.raises(ValueError, match=r"window: must be \[h, w\] pixels, each divisible by patch=3"):
        tiny(patch=3)
    with pytest.raises(ValueError, match="n_heads: must divide embed_dim=32"):
        tiny(n_heads=5)
    with pytest.raises(ValueError, match="fine_tune: must be one of full, frozen, last_k, lora"):
        tiny(fine_tune="partial")
    with pytest.raises(ValueError, match=r"k: must be in \[1, 8\]"):
        tiny(fine_tune="last_k", k=9)


# --- fine-tuning modes ----------------------------------------------------------------------

EMBEDDING_AND_HEAD = 7 * 32 * 2 * 2 + 32 + 32 * 4 * 2 * 2 + 4 * 2 * 2  # patch conv + unembed = 1 456
BLOCK = 2 * 32 + 32 * 96 + 32 * 32 + 2 * 32 + (32 * 128 + 128) + (128 * 32 + 32)  # norms, qkv, w, norm, MLP = 12 704
LORA_PER_BLOCK = 4 * (32 + 96) + 4 * (32 + 32) + 4 * (32 + 128) + 4 * (128 + 32)  # rank 4: A and B of 4 layers = 2 048
#: conv_width 8: two 3x3 convolutions each side (7 -> 8 -> 8 and 8 -> 8 -> 4); embedding over 8, head to 8 channels
CONV_EMBEDDING_AND_HEAD = ((7 * 8 * 9 + 8) + (8 * 8 * 9 + 8) + (8 * 8 * 9 + 8) + (8 * 4 * 9 + 4)
                           + 8 * 32 * 2 * 2 + 32 + 32 * 8 * 2 * 2 + 8 * 2 * 2)


@pytest.mark.parametrize(
    ("options", "trainable"),
    [
        ({"fine_tune": "full"}, EMBEDDING_AND_HEAD + N_BLOCKS * BLOCK),
        ({"fine_tune": "frozen"}, EMBEDDING_AND_HEAD),
        ({"fine_tune": "frozen", "conv_width": 8}, CONV_EMBEDDING_AND_HEAD),
        ({"fine_tune": "last_k", "k": 2}, EMBEDDING_AND_HEAD + 2 * BLOCK),
        ({"fine_tune": "lora", "lora_rank": 4}, EMBEDDING_AND_HEAD + N_BLOCKS * LORA_PER_BLOCK),
    ],
)
def test_fine_tune_modes_train_only_their_parameters(options, trainable):
    model = tiny(**options).train()
    counts = {name: p.numel() for name, p in model.named_parameters() if p.requires_grad}
    print(f"{options}: {sum(counts.values()):,} of {sum(p.numel() for p in model.parameters()):,} parameters train")
    assert sum(counts.values()) == trainable
    if options["fine_tune"] == "last_k":  # the last two blocks applied: the decoder's last two
        assert {n.split(".")[:4][-1] for n in counts if n.startswith("decoder.")} == {"1", "2"}
        assert not any(n.startswith("encoder.") for n in counts)

    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    x, target = torch.randn(2, 7, 32, 64), torch.randn(2, 4, 32, 64)
    for _ in range(2):  # LoRA's B starts at zero, so A first moves on the second step
        optimiser.zero_grad()
        ((model(x) - target) ** 2).mean().backward()
        optimiser.step()
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, before[name])}
    assert changed == set(counts)


# --- pretrained checkpoints -----------------------------------------------------------------


def test_loads_the_backbone_of_a_released_layout_checkpoint(tmp_path):
    state = released_layout_checkpoint(tmp_path / "prithvi.wxc.tiny.pt")
    model = tiny(pretrained=str(tmp_path / "prithvi.wxc.tiny.pt"))
    loaded = backbone_state(model)
    assert loaded and set(loaded) <= set(state)
    for key, value in loaded.items():
        assert torch.equal(value, state[key]), key
    report = load_prithvi_backbone(model, tmp_path / "prithvi.wxc.tiny.pt")
    assert report.prefix == "" and len(report.loaded) == len(loaded)
    assert {"patch_embedding.proj.weight", "unembed.weight", "decoder.lgl_block.shifter.local_mask"} <= set(report.ignored)

    # A bare state dict under a DDP/wrapper prefix, into LoRA-adapted layers and a bf16 backbone.
    torch.save({f"module.model.{k}": v for k, v in state.items()}, tmp_path / "ddp.pt")
    lora = tiny(fine_tune="lora", pretrained=str(tmp_path / "ddp.pt"), backbone_dtype="bfloat16")
    qkv = "encoder.lgl_block.transformers.3.attention.1.qkv_layer"
    assert torch.equal(lora.state_dict()[f"{qkv}.base_layer.weight"], state[f"{qkv}.weight"].bfloat16())
    assert lora(torch.randn(1, 7, 32, 64)).dtype == torch.float32

    # A bf16 checkpoint fills an fp32 model.
    state16 = released_layout_checkpoint(tmp_path / "bf16.pt", dtype=torch.bfloat16)
    model = tiny(pretrained=str(tmp_path / "bf16.pt"))
    assert model.backbone_dtype == torch.float32
    assert torch.equal(model.state_dict()[f"{qkv}.weight"], state16[f"{qkv}.weight"].float())


def test_refuses_checkpoints_that_do_not_fit(tmp_path):
    released_layout_checkpoint(tmp_path / "wide.pt", embed_dim=64)
    with pytest.raises(InputError, match=r"encoder\.lgl_block\.transformers\.0\.attention\.0\.weight has shape \(64,\) in the "
                                         r"checkpoint but \(32,\) in the model"):  # fmt: skip
        tiny(pretrained=str(tmp_path / "wide.pt"))
    model = tiny()
    before = backbone_state(model)
    with pytest.raises(InputError, match="has shape"):
        load_prithvi_backbone(model, tmp_path / "wide.pt", dtype=torch.bfloat16)
    assert model.backbone_dtype == torch.float32  # a refused checkpoint changes nothing
    assert all(torch.equal(value, before[key]) for key, value in backbone_state(model).items())
    released_layout_checkpoint(tmp_path / "deep.pt", n_blocks_encoder=3)
    with pytest.raises(InputError, match=r"has backbone tensor\(s\) the model lacks: encoder\.lgl_block\.transformers\.5\."):
        tiny(pretrained=str(tmp_path / "deep.pt"))
    with pytest.raises(InputError, match="no such checkpoint file"):
        tiny(pretrained=str(tmp_path / "absent.pt"))
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not readable as a torch checkpoint of tensors"):
        tiny(pretrained=str(tmp_path / "garbage.pt"))
    torch.save({"unet.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not a Prithvi WxC checkpoint"):
        tiny(pretrained=str(tmp_path / "other.pt"))


# --- training through the gridded trainer and the CLI ---------------------------------------

TRAINING = {**TINY, "patch": 4}  # 16 x 32 tokens on the 64 x 128 grid: quick on one thread


def test_training_a_prithvi_emulator_lowers_the_loss(tmp_path):
    data = write(fine_tuning_fields(n_times=24, n_levels=2), tmp_path / "train.zarr")
    config = GriddedGWTrainingConfig(
        model="prithvi", model_options=TRAINING, inputs=["surface_height", "u", "v"], epochs=2, batch_size=3,
        learning_rate=3e-3, validation_fraction=0.25, seed=1,
    )  # fmt: skip
    report = train_gw_gridded(data, tmp_path / "run", config, progress=False)
    log = pd.read_csv(tmp_path / "run" / "metrics.csv")
    print(log[["epoch", "train_loss", "val_loss", "val_r2"]].to_string())
    assert report.epochs == 2 and log["train_loss"].iloc[1] < log["train_loss"].iloc[0]
    assert log["val_loss"].iloc[1] < log["val_loss"].iloc[0]
    emulator, description = load_gw_gridded_emulator(tmp_path / "run")
    assert description["model"] == "prithvi" and isinstance(emulator.backbone, PrithviGW)


def test_cli_fine_tunes_a_pretrained_checkpoint_and_the_run_loads_without_it(tmp_path):
    checkpoint = tmp_path / "prithvi.wxc.tiny.pt"
    state = released_layout_checkpoint(checkpoint)
    data = write(fine_tuning_fields(n_times=6, n_levels=2), tmp_path / "small.zarr")
    run = tmp_path / "run"
    options = [f"{key}={json.dumps(value)}" for key, value in {**TRAINING, "fine_tune": "frozen"}.items()]
    args = ["train", "gw-gridded", "--data", data, "--out", str(run), "--model", "prithvi", "--epochs", "1",
            "--batch-size", "2", "--validation-fraction", "0.34", "--pretrained", str(checkpoint), "--no-progress"]  # fmt: skip
    result = runner.invoke(app, args + [arg for option in options for arg in ("--model-option", option)])
    assert result.exit_code == 0, result.output
    description = json.loads((run / "model.json").read_text())
    assert description["model_options"]["pretrained"] == str(checkpoint.resolve())
    assert description["trainable_parameters"] < 0.1 * description["parameters"]
    checkpoint.unlink()  # the trained weights hold the backbone; the checkpoint is not needed to load the run
    emulator, _ = load_gw_gridded_emulator(run)
    key = "decoder.lgl_block.transformers.2.ff.1.net.3.weight"
    assert torch.equal(emulator.backbone.state_dict()[key], state[key])  # frozen: still the pretrained weights

    args = ["train", "gw-gridded", "--data", data, "--out", str(tmp_path / "never"), "--model", "prithvi",
            "--pretrained", str(tmp_path / "absent.pt")]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "no such checkpoint file" in result.output and not (tmp_path / "never").exists()
