"""The plain-torch BERT encoder computes what transformers' BertModel computes, from the same weights."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from nlp.bert_encoder import BertConfig, BertEncoder  # noqa: E402

SIZES = {"vocab_size": 300, "hidden_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4,
         "intermediate_size": 96, "max_position_embeddings": 40, "type_vocab_size": 2}


def random_bert(**settings):
    """A BertModel whose every weight (layer norms included) is drawn far from its initial values, so that a
    wrong name, transpose or order of operations shows in the output."""
    torch.manual_seed(1)
    model = transformers.BertModel(transformers.BertConfig(**{**SIZES, **settings}), add_pooling_layer=True)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 0.3)
    return model.eval()


def padded_batch():
    """Three windows of different lengths, padded to the longest (as the classifier batches them)."""
    generator = torch.Generator().manual_seed(2)
    lengths = [40, 17, 3]
    ids = torch.randint(1, SIZES["vocab_size"], (len(lengths), max(lengths)), generator=generator)
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        mask[row, :length] = 1
    return ids * mask, mask


@pytest.mark.parametrize("settings", [{}, {"layer_norm_eps": 1e-3}], ids=["defaults", "layer_norm_eps"])
def test_matches_transformers_on_a_padded_batch(settings):
    reference = random_bert(**settings)
    config = BertConfig.from_dict(reference.config.to_dict())
    encoder = BertEncoder.from_weights(config, reference.state_dict())
    ids, mask = padded_batch()
    with torch.inference_mode():
        expected = reference(input_ids=ids, attention_mask=mask).last_hidden_state
        got = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    real = mask.bool()  # padded positions are never read (the classifier pools real tokens only)
    assert got.shape == expected.shape
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got[0], got[0].roll(1, dims=0), atol=1e-3)  # positions matter: not a trivial output


def test_reads_weights_saved_with_a_bert_prefix_and_extra_heads():
    # A checkpoint saved from BertForMaskedLM or a classifier names the encoder "bert." and carries heads.
    reference = random_bert()
    weights = {f"bert.{name}": tensor for name, tensor in reference.state_dict().items()}
    weights["cls.predictions.bias"] = torch.zeros(SIZES["vocab_size"])
    encoder = BertEncoder.from_weights(BertConfig.from_dict(reference.config.to_dict()), weights)
    ids, mask = padded_batch()
    with torch.inference_mode():
        torch.testing.assert_close(encoder(input_ids=ids, attention_mask=mask).last_hidden_state[0],
                                   reference(input_ids=ids, attention_mask=mask).last_hidden_state[0],
                                   atol=1e-5, rtol=1e-5)


def test_a_missing_weight_fails_loudly():
    reference = random_bert()
    weights = dict(reference.state_dict())
    del weights["encoder.layer.2.output.LayerNorm.weight"]
    with pytest.raises(RuntimeError, match="layers.2.output_norm.weight"):
        BertEncoder.from_weights(BertConfig.from_dict(reference.config.to_dict()), weights)


def test_weights_stored_in_half_precision_are_read_in_fp32_as_transformers_reads_them(tmp_path):
    # A base converted to fp16 on disk whose config still says float32: transformers reads fp32, and so must this
    # module (half-precision weights would change the vectors, and fail under bfloat16 autocast).
    from safetensors.torch import load_file, save_file

    random_bert().save_pretrained(tmp_path)
    half = {name: tensor.half() for name, tensor in load_file(str(tmp_path / "model.safetensors")).items()}
    save_file(half, str(tmp_path / "model.safetensors"))
    reference = transformers.BertModel.from_pretrained(tmp_path).eval()
    encoder = BertEncoder.from_weights(BertConfig.from_folder(tmp_path), half)
    assert {parameter.dtype for parameter in encoder.parameters()} == {torch.float32}
    ids, mask = padded_batch()
    real = mask.bool()
    with torch.inference_mode():
        torch.testing.assert_close(encoder(input_ids=ids, attention_mask=mask).last_hidden_state[real],
                                   reference(input_ids=ids, attention_mask=mask).last_hidden_state[real],
                                   atol=1e-5, rtol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert encoder(input_ids=ids, attention_mask=mask).last_hidden_state.isfinite().all()


def test_settings_a_config_leaves_out_are_transformers_defaults():
    settings = {"model_type": "bert", **SIZES}
    del settings["type_vocab_size"]
    config = BertConfig.from_dict(settings)
    theirs = transformers.BertConfig(**settings)
    assert (config.type_vocab_size, config.layer_norm_eps) == (theirs.type_vocab_size, theirs.layer_norm_eps)


@pytest.mark.parametrize("change", [{"model_type": "roberta"}, {"position_embedding_type": "relative_key"},
                                    {"hidden_act": "relu"}, {"hidden_act": "gelu_new"}, {"is_decoder": True},
                                    {"num_attention_heads": 5}, {"num_attention_heads": 0}, {"dtype": "float16"},
                                    {"torch_dtype": "bfloat16"}])
def test_encoders_it_does_not_compute_exactly_are_left_to_transformers(change):
    settings = {**transformers.BertConfig(**SIZES).to_dict(), **change}
    assert BertConfig.from_dict(settings) is None


def test_a_folder_without_a_config_is_left_to_transformers(tmp_path):
    assert BertConfig.from_folder(tmp_path) is None
