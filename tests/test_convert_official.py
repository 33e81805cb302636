"""The official-checkpoint converter reproduces the official model's logits.

The official state dict is synthesised from the official parameter list (names + shapes of a T5-small-sized
official `Model`, `fixtures/official/official_state_dict_t5-small.txt`). The reference logits come from an
independent re-implementation of the official forward (docs/method.md#pmf) written here on the official names:
stock `T5ForConditionalGeneration` + forward hooks that apply the official PMF after the feed-forward sublayer of
encoder and decoder blocks, and time-major packed LSTMs for the utterance vectors.
"""

import pytest
import torch
from conftest import FIXTURES
from torch import nn
from torch.nn.functional import linear
from torch.nn.utils.rnn import pack_padded_sequence
from transformers import AutoModelForSeq2SeqLM, T5Config, T5ForConditionalGeneration

from unimse_hf import UniMSEForConditionalGeneration, convert_official_state_dict
from unimse_hf.cli import main
from unimse_hf.convert_official import OFFICIAL_T5_PREFIX, load_official_state_dict

PARAMETER_LIST = FIXTURES / "official" / "official_state_dict_t5-small.txt"


def read_parameter_list() -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in PARAMETER_LIST.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, shape, _dtype = line.split("\t")
        shapes[name] = tuple(int(x) for x in shape.strip("()").split(",") if x.strip())
    return shapes


@pytest.fixture(scope="module")
def official_state_dict() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = {name: torch.randn(shape, generator=g) * 0.05 for name, shape in read_parameter_list().items()}
    for tied in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"):
        state[OFFICIAL_T5_PREFIX + tied] = state[OFFICIAL_T5_PREFIX + "shared.weight"]
    return state


def official_utterance_vector(state, prefix, frames, lengths):
    """Official RNNEncoder: time-major LSTM packed by true lengths, h_T -> (dropout: eval) -> linear_1."""
    lstm = nn.LSTM(frames.shape[-1], state[f"{prefix}.rnn.weight_hh_l0"].shape[1])
    lstm.load_state_dict({k.split(".rnn.")[1]: v for k, v in state.items() if k.startswith(f"{prefix}.rnn.")})
    packed = pack_padded_sequence(frames.transpose(0, 1), lengths, enforce_sorted=False)
    _, (h_n, _) = lstm(packed)
    return linear(h_n[-1], state[f"{prefix}.linear_1.weight"], state[f"{prefix}.linear_1.bias"])


def official_logits(
    state, input_ids, attention_mask, decoder_input_ids, visual, visual_lengths, acoustic, acoustic_lengths
):
    t5_state = {
        k[len(OFFICIAL_T5_PREFIX) :]: v
        for k, v in state.items()
        if k.startswith(OFFICIAL_T5_PREFIX) and "adapter" not in k
    }
    t5 = T5ForConditionalGeneration(
        T5Config(
            vocab_size=32128,
            d_model=512,
            d_kv=64,
            d_ff=2048,
            num_layers=6,
            num_heads=8,
            feed_forward_proj="relu",
            dropout_rate=0.0,
            decoder_start_token_id=0,
        )
    ).eval()
    missing, unexpected = t5.load_state_dict(t5_state, strict=False)
    assert not unexpected and not missing
    v = official_utterance_vector(state, "visual_enc", visual, visual_lengths)
    a = official_utterance_vector(state, "acoustic_enc", acoustic, acoustic_lengths)

    def adapter_hook(prefix):
        def hook(module, args, output):
            h = output[0]
            fused = torch.cat([h, v[:, None].expand(-1, h.shape[1], -1), a[:, None].expand(-1, h.shape[1], -1)], -1)
            down = torch.sigmoid(
                linear(
                    fused, state[f"{prefix}.adapter_down_project.weight"], state[f"{prefix}.adapter_down_project.bias"]
                )
            )
            up = linear(down, state[f"{prefix}.adapter_up_project.weight"], state[f"{prefix}.adapter_up_project.bias"])
            out = linear(up + fused, state[f"{prefix}.adapter_linear.weight"], state[f"{prefix}.adapter_linear.bias"])
            return (out, *output[1:])

        return hook

    for stack, sublayer in (("encoder", 2), ("decoder", 3)):
        for i in (3, 4, 5):
            prefix = f"{OFFICIAL_T5_PREFIX}{stack}.block.{i}.layer.{sublayer}"
            getattr(t5, stack).block[i].register_forward_hook(adapter_hook(prefix))
    with torch.no_grad():
        return t5(input_ids=input_ids, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids).logits


@pytest.fixture(scope="module")
def batch():
    g = torch.Generator().manual_seed(1)
    lengths_v, lengths_a = torch.tensor([4, 2, 3]), torch.tensor([6, 6, 1])
    visual, acoustic = torch.randn(3, 4, 64, generator=g), torch.randn(3, 6, 64, generator=g)
    visual_mask = (torch.arange(4)[None] < lengths_v[:, None]).long()
    acoustic_mask = (torch.arange(6)[None] < lengths_a[:, None]).long()
    attention_mask = torch.ones(3, 9, dtype=torch.long)
    attention_mask[1, 6:] = 0
    return dict(
        input_ids=torch.randint(2, 32100, (3, 9), generator=g),
        attention_mask=attention_mask,
        decoder_input_ids=torch.randint(2, 32100, (3, 5), generator=g),
        visual=visual * visual_mask[..., None],
        visual_mask=visual_mask,
        visual_lengths=lengths_v,
        acoustic=acoustic * acoustic_mask[..., None],
        acoustic_mask=acoustic_mask,
        acoustic_lengths=lengths_a,
    )


def our_logits(model, batch):
    with torch.no_grad():
        return model(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            decoder_input_ids=batch["decoder_input_ids"],
            acoustic_features=batch["acoustic"],
            acoustic_mask=batch["acoustic_mask"],
            visual_features=batch["visual"],
            visual_mask=batch["visual_mask"],
        ).logits


@pytest.fixture(scope="module")
def reference_logits(official_state_dict, batch):
    return official_logits(
        official_state_dict,
        batch["input_ids"],
        batch["attention_mask"],
        batch["decoder_input_ids"],
        batch["visual"],
        batch["visual_lengths"],
        batch["acoustic"],
        batch["acoustic_lengths"],
    )


def test_converted_config_is_read_off_the_shapes(official_state_dict):
    config, converted = convert_official_state_dict(official_state_dict)
    assert (config.d_model, config.d_ff, config.num_layers, config.num_decoder_layers) == (512, 2048, 6, 6)
    assert (config.num_heads, config.d_kv, config.vocab_size, config.feed_forward_proj) == (8, 64, 32128, "relu")
    assert (config.acoustic_dim, config.visual_dim, config.modality_hidden_size) == (64, 64, 32)
    assert config.fusion_layers == [3, 4, 5] and config.fusion_in_decoder and config.fusion_bottleneck == 64
    assert "encoder.block.3.fusion.out_project.weight" in converted
    assert "decoder.block.5.fusion.down_project.bias" in converted
    assert "encoder.visual_encoder.lstm.weight_ih_l0" in converted
    assert "encoder.acoustic_encoder.projection.weight" in converted
    assert len(converted) == len(official_state_dict)


def assert_same_logits(actual, expected):
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4 * scale)


def test_converted_weights_reproduce_the_official_logits(official_state_dict, batch, reference_logits):
    model = load_official_state_dict(official_state_dict)
    assert_same_logits(our_logits(model, batch), reference_logits)


def test_the_reference_depends_on_the_modalities(official_state_dict, batch, reference_logits):
    """Guards the test above: the fused vectors change the official logits, so a mapping that mixed up visual
    and acoustic (or dropped them) would fail it."""
    swapped = official_logits(
        official_state_dict,
        batch["input_ids"],
        batch["attention_mask"],
        batch["decoder_input_ids"],
        batch["acoustic"][:, :4],
        batch["visual_lengths"],
        batch["visual"],
        torch.tensor([4, 4, 1]),
    )
    difference = (swapped - reference_logits).abs().max() / reference_logits.abs().max()
    assert difference > 1e-2


def test_cli_converts_a_checkpoint(tmp_path, official_state_dict, batch, reference_logits, capsys):
    checkpoint = tmp_path / "official.pt"
    torch.save(official_state_dict, checkpoint)
    assert main(["convert-official", str(checkpoint), str(tmp_path / "converted")]) == 0
    assert "fusion blocks [3, 4, 5], fusion_in_decoder=True" in capsys.readouterr().out
    model = AutoModelForSeq2SeqLM.from_pretrained(tmp_path / "converted").eval()
    assert isinstance(model, UniMSEForConditionalGeneration)
    assert_same_logits(our_logits(model, batch), reference_logits)


class CallsAFunctionWhenUnpickled:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_cli_refuses_a_pickled_object_and_a_missing_file(tmp_path, capsys):
    torch.save({"weights": CallsAFunctionWhenUnpickled()}, tmp_path / "evil.pt")
    with pytest.raises(SystemExit, match="refused to unpickle .* weights_only=True"):
        main(["convert-official", str(tmp_path / "evil.pt"), str(tmp_path / "out")])
    assert "unpickled code ran" not in capsys.readouterr().out
    with pytest.raises(SystemExit, match="is not a file"):
        main(["convert-official", str(tmp_path / "absent.pt"), str(tmp_path / "out")])


def test_foreign_state_dicts_are_rejected_with_the_offending_keys(official_state_dict):
    with pytest.raises(ValueError, match=r"1 keys that are not official UniMSE parameter names, e\.g\. \['classifier"):
        convert_official_state_dict({**official_state_dict, "classifier.weight": torch.zeros(2)})
    without_visual = {k: v for k, v in official_state_dict.items() if not k.startswith("visual_enc")}
    with pytest.raises(ValueError, match="no visual_enc.rnn weights"):
        convert_official_state_dict(without_visual)
    with pytest.raises(TypeError, match="state_dict must be a dict of tensors, got list"):
        convert_official_state_dict([])
