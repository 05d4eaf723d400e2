"""A BERT encoder for inference written with torch alone, so that predicting needs neither transformers nor its model
classes (importing transformers' BERT code costs about 2.5 s of a command's start-up; the encoder itself is a
tenth of a second of torch).

It computes what ``transformers.BertModel`` computes for the last hidden states (absolute positions, token type 0,
no decoder, no pooler), from the same weight names, so a model folder's ``model.safetensors`` or a merged
encoder's cache file loads into it unchanged. Attention is torch's ``scaled_dot_product_attention``. Training, LoRA
and gradient explanations keep transformers' module; this one is for reading documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

# What this module computes; anything else in a config (another position kind, a decoder, weights read in half
# precision) loads transformers'. Missing settings mean transformers' defaults.
SUPPORTED = {"model_type": "bert", "position_embedding_type": "absolute", "hidden_act": "gelu", "dtype": "float32",
             "torch_dtype": "float32", "is_decoder": False, "add_cross_attention": False}
DEFAULTS = {**SUPPORTED, "model_type": None, "vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12,
            "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 512, "type_vocab_size": 2,
            "layer_norm_eps": 1e-12}


@dataclass(frozen=True)
class BertConfig:
    """The sizes of a BERT encoder, from its ``config.json``."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float

    @classmethod
    def from_dict(cls, settings: dict) -> "BertConfig | None":
        """The config, or None when the settings describe an encoder this module does not compute exactly."""
        settings = {**DEFAULTS, **{key: value for key, value in settings.items() if value is not None}}
        if any(settings[key] != value for key, value in SUPPORTED.items()):
            return None
        heads = settings["num_attention_heads"]
        if not isinstance(heads, int) or heads <= 0 or settings["hidden_size"] % heads:
            return None
        return cls(**{name: settings[name] for name in cls.__dataclass_fields__})

    @classmethod
    def from_folder(cls, folder: str | Path) -> "BertConfig | None":
        path = Path(folder) / "config.json"
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None


@dataclass
class EncoderOutput:
    """What the classifier reads of an encoder's output (the name transformers gives it)."""

    last_hidden_state: torch.Tensor


class _Layer(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        size, eps = config.hidden_size, config.layer_norm_eps
        self.heads = config.num_attention_heads
        self.query, self.key, self.value = (nn.Linear(size, size) for _ in range(3))
        self.attention_output = nn.Linear(size, size)
        self.attention_norm = nn.LayerNorm(size, eps=eps)
        self.intermediate = nn.Linear(size, config.intermediate_size)
        self.output = nn.Linear(config.intermediate_size, size)
        self.output_norm = nn.LayerNorm(size, eps=eps)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length, size = hidden.shape

        def heads(x):
            return x.view(batch, length, self.heads, size // self.heads).transpose(1, 2)

        context = functional.scaled_dot_product_attention(
            heads(self.query(hidden)), heads(self.key(hidden)), heads(self.value(hidden)), attn_mask=mask)
        context = context.transpose(1, 2).reshape(batch, length, size)
        hidden = self.attention_norm(self.attention_output(context) + hidden)
        return self.output_norm(self.output(functional.gelu(self.intermediate(hidden))) + hidden)


class BertEncoder(nn.Module):
    """``BertModel``'s last hidden states, for inference: ``encoder(input_ids=, attention_mask=)`` returns an
    :class:`EncoderOutput` as transformers' module does."""

    # transformers' weight names -> this module's (the layers' prefix ``encoder.layer.N.`` becomes ``layers.N.``)
    RENAMED = {"attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
               "attention.output.dense": "attention_output", "attention.output.LayerNorm": "attention_norm",
               "intermediate.dense": "intermediate", "output.dense": "output", "output.LayerNorm": "output_norm"}

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.embedding_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.layers = nn.ModuleList(_Layer(config) for _ in range(config.num_hidden_layers))

    @classmethod
    def from_weights(cls, config: BertConfig, weights: dict[str, torch.Tensor]) -> "BertEncoder":
        """The encoder with transformers-named ``weights`` (a ``bert.`` prefix and the pooler are ignored); every
        weight this module has must be there."""
        # Built on the CPU, initialized and then replaced: MiniLM's random initialization takes about 0.15 s, where
        # building on the meta device (no initialization) imports torch's compiler stack, 2-4 s.
        encoder = cls(config)
        state = {}
        for name, tensor in weights.items():
            renamed = cls._own_name(name.removeprefix("bert."))
            if renamed is not None:  # in fp32 whatever it was stored in, as transformers reads a float32 config
                state[renamed] = tensor.float() if tensor.is_floating_point() else tensor
        encoder.load_state_dict(state, strict=True, assign=True)
        return encoder.eval().requires_grad_(False)

    @classmethod
    def _own_name(cls, name: str) -> str | None:
        if name.startswith("embeddings."):
            rest = name.removeprefix("embeddings.")
            if rest == "position_ids":
                return None
            return "embedding_norm." + rest.removeprefix("LayerNorm.") if rest.startswith("LayerNorm.") else rest
        if name.startswith("encoder.layer."):
            number, rest = name.removeprefix("encoder.layer.").split(".", 1)
            for theirs, ours in cls.RENAMED.items():
                if rest.startswith(theirs + "."):
                    return f"layers.{number}.{ours}{rest.removeprefix(theirs)}"
        return None  # the pooler, or anything else transformers keeps beside the encoder

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> EncoderOutput:
        length = input_ids.shape[1]
        hidden = self.word_embeddings(input_ids) + self.position_embeddings.weight[:length] \
            + self.token_type_embeddings.weight[0]
        hidden = self.embedding_norm(hidden)
        mask = attention_mask[:, None, None, :].bool()  # (batch, 1, 1, tokens): a query may read real tokens only
        for layer in self.layers:
            hidden = layer(hidden, mask)
        return EncoderOutput(hidden)
