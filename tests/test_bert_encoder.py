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


def test_matches_transformers_on_a_padded_batch():
    reference = random_bert()
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


@pytest.mark.parametrize("change", [{"model_type": "roberta"}, {"position_embedding_type": "relative_key"},
                                    {"hidden_act": "relu"}, {"is_decoder": True}, {"num_attention_heads": 5}])
def test_encoders_it_does_not_compute_exactly_are_left_to_transformers(change):
    settings = {**transformers.BertConfig(**SIZES).to_dict(), **change}
    assert BertConfig.from_dict(settings) is None


def test_a_folder_without_a_config_is_left_to_transformers(tmp_path):
    assert BertConfig.from_folder(tmp_path) is None
