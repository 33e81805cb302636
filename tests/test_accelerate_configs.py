"""The accelerate config files of accelerate_configs/: what can be checked without a GPU.

Each file goes through accelerate's own config class and launcher resolution (which launcher, how many processes,
which environment the launched processes read); the FSDP file's plugin is built from that environment and its
auto-wrap policy is applied to a tiny UniMSE model; the model is sharded with FSDP2 in a one-process gloo group.
"""

import os
from pathlib import Path
from unittest import mock

import accelerate
import pytest
import torch
import yaml
from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import DeepSpeedPlugin, DistributedType, FullyShardedDataParallelPlugin
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env
from conftest import tiny_unimse_config
from packaging.version import Version

from unimse_hf import UniMSEForConditionalGeneration
from unimse_hf.modeling_unimse import UniMSEFusionBlock

# fsdp.yaml (FSDP2) is checked with a recent accelerate; 1.3 lacks FSDP2 and 1.6 builds a different plugin
needs_fsdp2 = pytest.mark.skipif(
    Version(accelerate.__version__) < Version("1.15"),
    reason=f"accelerate_configs/fsdp.yaml is checked with accelerate >= 1.15, found {accelerate.__version__}",
)
if not needs_fsdp2.args[0]:
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy

CONFIG_DIR = Path(__file__).resolve().parents[1] / "accelerate_configs"
CONFIGS = sorted(CONFIG_DIR.glob("*.yaml"))
#: file -> (distributed_type, mixed_precision, launcher flag set by `accelerate launch`)
EXPECTED = {
    "ddp": (DistributedType.MULTI_GPU, "bf16", "multi_gpu"),
    "fsdp": (DistributedType.FSDP, "bf16", "use_fsdp"),
    "deepspeed_zero2": (DistributedType.DEEPSPEED, "bf16", "use_deepspeed"),
    "cpu_2proc": (DistributedType.MULTI_GPU, "no", "multi_gpu"),  # the torchrun launcher: 2 processes, gloo on CPU
}
LAUNCHER_FLAGS = ("multi_gpu", "use_fsdp", "use_deepspeed", "cpu", "tpu")


def launch_args(name: str):
    """``accelerate launch --config_file accelerate_configs/<name>.yaml -m unimse_hf train CONFIG`` as resolved by
    accelerate's launcher (before it starts anything), and the config it read."""
    args = launch_command_parser().parse_args(
        ["--config_file", str(CONFIG_DIR / f"{name}.yaml"), "-m", "unimse_hf", "train", "CONFIG.yaml"]
    )
    args, defaults, mixed_precision_from_config = _validate_launch_command(args)
    if args.use_deepspeed:  # what launch_command sets before the DeepSpeed launcher
        fields = list(defaults.deepspeed_config) + (["mixed_precision"] if mixed_precision_from_config else [])
        args.deepspeed_fields_from_accelerate_config = ",".join(fields)
    return args


def launched_environment(args) -> dict[str, str]:
    """The ACCELERATE_* / FSDP_* variables the launched processes would read."""
    if args.use_deepspeed:
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    return {key: value for key, value in env.items() if key.startswith(("ACCELERATE_", "FSDP_"))}


def test_the_expected_configs_are_shipped_and_documented():
    assert sorted(path.stem for path in CONFIGS) == sorted(EXPECTED)
    readme = (CONFIG_DIR / "README.md").read_text()
    for path in CONFIGS:
        assert path.name in readme, path.name


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.stem)
def test_config_loads_in_accelerate_and_picks_its_launcher(config):
    raw = yaml.safe_load(config.read_text())
    assert isinstance(raw, dict) and raw["num_processes"] >= 2 and raw["num_machines"] == 1
    loaded = load_config_from_file(str(config))  # accelerate's own class: unknown keys or values raise
    distributed_type, mixed_precision, flag = EXPECTED[config.stem]
    assert isinstance(loaded, ClusterConfig)
    assert (loaded.distributed_type, loaded.mixed_precision) == (distributed_type, mixed_precision)
    assert loaded.use_cpu is False
    args = launch_args(config.stem)
    assert [name for name in LAUNCHER_FLAGS if getattr(args, name)] == [flag]
    assert (args.num_processes, args.mixed_precision) == (raw["num_processes"], mixed_precision)
    assert launched_environment(args)["ACCELERATE_MIXED_PRECISION"] == mixed_precision


def fsdp_plugin() -> FullyShardedDataParallelPlugin:
    with mock.patch.dict(os.environ, launched_environment(launch_args("fsdp"))):
        return FullyShardedDataParallelPlugin()


@needs_fsdp2
def test_fsdp_config_builds_a_full_shard_transformer_wrap_plugin():
    plugin = fsdp_plugin()
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True  # FSDP2's FULL_SHARD
    assert plugin.auto_wrap_policy is torch.distributed.fsdp.wrap.transformer_auto_wrap_policy
    assert plugin.transformer_cls_names_to_wrap == ["T5Block", "UniMSEFusionBlock"]
    assert plugin.state_dict_type.name == "FULL_STATE_DICT"
    assert not isinstance(plugin.cpu_offload, torch.distributed.fsdp.CPUOffloadPolicy)


def tiny_model(**overrides) -> UniMSEForConditionalGeneration:
    torch.manual_seed(0)
    return UniMSEForConditionalGeneration(tiny_unimse_config(**overrides)).eval()


@needs_fsdp2
def test_fsdp_auto_wrap_selects_every_t5_and_fusion_block_and_nothing_else():
    model = tiny_model(fusion_layers=[1])
    blocks = {f"{stack}.block.{i}" for stack in ("encoder", "decoder") for i in range(3)}

    policy = fsdp2_prepare_auto_wrap_policy(fsdp_plugin(), model)  # what accelerate applies fully_shard to
    selected = {name: type(module).__name__ for name, module in model.named_modules() if policy(module)}
    assert set(selected) == blocks
    assert selected["encoder.block.1"] == "UniMSEFusionBlock"

    plugin = fsdp_plugin()  # FSDP1's callable: torch's transformer_auto_wrap_policy with the resolved classes
    plugin.set_auto_wrap_policy(model)
    fsdp1 = {name for name, module in model.named_modules()
             if plugin.auto_wrap_policy(module=module, recurse=False, nonwrapped_numel=0)}  # fmt: skip
    assert fsdp1 == blocks


@needs_fsdp2
def test_fsdp_auto_wrap_needs_a_fusion_block_in_the_model():
    with pytest.raises(ValueError, match="Could not find the transformer layer class UniMSEFusionBlock"):
        fsdp2_prepare_auto_wrap_policy(fsdp_plugin(), tiny_model(fusion_layers=[]))


@pytest.fixture
def one_process_gloo_group():
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is needed for a one-process group")
    if torch.distributed.is_initialized():
        pytest.skip("a process group is already initialised in this process")
    torch.distributed.init_process_group("gloo", store=torch.distributed.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        torch.distributed.destroy_process_group()


def sharded_loss_and_grads(batch, precision=None):
    """Loss and gradients of the tiny model sharded as accelerate's FSDP2 does with fsdp.yaml (``fully_shard`` on
    every module the policy selects, then on the root)."""
    from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

    model = tiny_model(fusion_layers=[1])
    policy = fsdp2_prepare_auto_wrap_policy(fsdp_plugin(), model)
    precision = MixedPrecisionPolicy() if precision is None else precision
    for module in [module for module in model.modules() if policy(module)]:
        fully_shard(module, reshard_after_forward=True, mp_policy=precision)
    fully_shard(model, reshard_after_forward=True, mp_policy=precision)
    assert isinstance(model.encoder.block[1], FSDPModule) and isinstance(model.encoder.block[1], UniMSEFusionBlock)
    loss = model(**batch).loss
    loss.backward()
    grads = {name: p.grad.full_tensor() for name, p in model.named_parameters() if p.grad is not None}
    return loss.item(), grads


# FSDP2 warns that the T5 blocks return views (the position bias they hand on): harmless unless an in-place op follows,
# which the fp32 gradient comparison below would catch
@pytest.mark.filterwarnings("ignore:FSDP2-wrapped module:UserWarning")
@needs_fsdp2
def test_model_shards_with_fsdp2_on_the_selected_blocks_fp32_and_bf16(one_process_gloo_group):
    from torch.distributed.fsdp import MixedPrecisionPolicy

    generator = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(2, 100, (3, 7), generator=generator),
        "attention_mask": torch.ones(3, 7, dtype=torch.long),
        "labels": torch.randint(2, 100, (3, 4), generator=generator),
        "acoustic_features": torch.randn(3, 5, 6, generator=generator),
        "acoustic_mask": torch.ones(3, 5),
        "visual_features": torch.randn(3, 4, 5, generator=generator),
        "visual_mask": torch.ones(3, 4),
    }
    unsharded = tiny_model(fusion_layers=[1])
    reference = unsharded(**batch).loss
    reference.backward()
    reference_grads = {name: p.grad for name, p in unsharded.named_parameters() if p.grad is not None}

    # fp32: the sharded model computes the same loss and the same gradients (the blocks' hooks see every use)
    loss, grads = sharded_loss_and_grads(batch)
    assert loss == pytest.approx(reference.item(), rel=1e-6)
    assert grads.keys() == reference_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, reference_grads[name], rtol=1e-4, atol=1e-6, msg=name)

    # mixed_precision: bf16 as in fsdp.yaml: bf16 compute, fp32 gradient reduction (about 3 significant digits)
    bf16 = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    loss, grads = sharded_loss_and_grads(batch, bf16)
    assert loss == pytest.approx(reference.item(), rel=2e-2)
    assert grads.keys() == reference_grads.keys()


def test_deepspeed_config_reads_accumulation_and_clipping_from_the_training_arguments():
    with mock.patch.dict(os.environ, launched_environment(launch_args("deepspeed_zero2"))):
        plugin = DeepSpeedPlugin()
    zero = plugin.deepspeed_config["zero_optimization"]
    assert zero["stage"] == 2 and zero["offload_optimizer"]["device"] == zero["offload_param"]["device"] == "none"
    assert plugin.deepspeed_config["gradient_accumulation_steps"] == "auto"  # filled by the Trainer
    assert plugin.deepspeed_config["gradient_clipping"] == "auto"
    assert not plugin.zero3_init_flag
