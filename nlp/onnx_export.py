"""Export a transformer encoder to ONNX (fp32) so that ONNX Runtime can fuse its attention, and open an export.

ONNX Runtime runs BERT much faster when each layer's attention is one ``Attention`` operator (and the
embeddings one ``EmbedLayerNormalization``): its transformer optimizer (``onnxruntime.transformers``) finds those
patterns in the graph the exporter wrote. The attention code of recent ``transformers`` releases (shared attention
functions, boolean mask helpers) traces to a graph the optimizer no longer recognises, so a BERT encoder is traced
here through the classic formulation instead: the same weights and arithmetic (scores divided by the square root of
the head size, an additive mask of -10000 on padding, softmax, weighted values), which is the graph the optimizer was
written for. On real tokens the fused export's hidden states match the unfused export within 1e-5; padded positions
differ, and nothing reads them (pooling and explanations are masked). Other architectures are exported as they are,
unfused.
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
import warnings
from pathlib import Path
from typing import Callable, TypeVar

log = logging.getLogger(__name__)

EXPORT_VERSION = "v2"  # in the export's file name: caches of an earlier export are not read as this one

T = TypeVar("T")


def in_export_cache(what: str, open_in: Callable[[Path], T]) -> T:
    """``open_in(folder)`` on the export cache (:func:`nlp.files.cache_dir`). Where there is none, or it cannot be
    written (``OSError``), on a temporary folder instead, gone once ``open_in`` returns (its sessions have read
    their files by then): that costs an export per process."""
    from nlp.files import cache_dir

    directory = cache_dir()
    if directory is not None:
        try:
            return open_in(directory)
        except OSError as error:
            log.warning("cannot cache %s in %s (%s)", what, directory, type(error).__name__)
    with tempfile.TemporaryDirectory(prefix="clinnlp-onnx-") as scratch:
        return open_in(Path(scratch))


def read_export(make: Callable[[], Path], read: Callable[[Path], T], also: tuple[Path, ...] = ()) -> T:
    """``read(make())``, where ``make`` returns the cached export's path, exporting it first when it is not there.
    A cached export that does not read (truncated, or from another version) is removed with the files ``also``
    names and made again, once. ``OSError`` is the folder's failure, not the file's: it is raised."""
    path = make()
    try:
        return read(path)
    except OSError:
        raise
    except Exception as error:
        log.warning("ignoring the cached file %s (%s)", path.name, type(error).__name__)
        for file in (path, *also):
            file.unlink(missing_ok=True)
    return read(make())


def export_encoder(encoder, path: Path) -> bool:
    """Write ``encoder`` (a ``transformers`` model) to ``path`` as ONNX, inputs ``input_ids`` and ``attention_mask``,
    output ``hidden`` (the last hidden states). Returns whether the attention was fused.

    A copy is traced (in eval mode, eager attention, BERT's attention swapped on the copy): the caller's encoder,
    which another thread may be running, is never changed, not even for the length of the export."""
    import copy

    import torch

    encoder = copy.deepcopy(encoder).eval()
    encoder.set_attn_implementation("eager")  # the exporter cannot trace the SDPA mask code
    classic = _is_bert(encoder)
    ids = torch.ones((2, 16), dtype=torch.long)
    with warnings.catch_warnings(), torch.autocast("cpu", enabled=False), torch.inference_mode(False), \
            (_classic_attention(encoder) if classic else contextlib.nullcontext()):
        # The TorchScript exporter handles BERT with dynamic shapes and needs no onnxscript.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(_traced_module(encoder, classic).eval(), (ids, ids), str(path),
                          input_names=["input_ids", "attention_mask"], output_names=["hidden"], opset_version=17,
                          dynamo=False, dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                                      "attention_mask": {0: "batch", 1: "tokens"},
                                                      "hidden": {0: "batch", 1: "tokens"}})
    return classic and _fuse(path, encoder.config)


def open_session(path: Path, threads: int):
    """An ONNX Runtime session on the CPU for an export, ``threads`` intra-op threads (0: ONNX Runtime's default).
    Without its memory arena, ONNX Runtime frees each batch's buffers to the process's allocator (mimalloc in the
    service) instead of keeping the largest batch's size for good."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = int(threads)
    options.enable_cpu_mem_arena = False
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _is_bert(encoder) -> bool:
    """A BERT encoder that the classic formulation computes exactly: absolute positions, no decoder."""
    from transformers import BertModel

    config = encoder.config
    return isinstance(encoder, BertModel) and not config.is_decoder and \
        getattr(config, "position_embedding_type", "absolute") == "absolute"


def _fuse(path: Path, config) -> bool:
    """Replace ``path`` with its fused graph when every layer's attention fused; else leave it as exported."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(str(path), model_type="bert", num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size, opt_level=0)
    fused = optimized.get_fused_operator_statistics().get("Attention", 0)
    if fused != config.num_hidden_layers:
        log.info("ONNX export left unfused: %d of %d attention layers matched", fused, config.num_hidden_layers)
        return False
    optimized.save_model_to_file(str(path))
    return True


def _traced_module(encoder, classic: bool):
    """What the exporter traces: the encoder's last hidden states; for BERT, layer by layer with the classic
    additive mask."""
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    class ClassicBert(Hidden):
        def forward(self, input_ids, attention_mask):
            additive = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
            hidden = self.model.embeddings(input_ids=input_ids)
            for layer in self.model.encoder.layer:
                output = layer(hidden, attention_mask=additive)
                hidden = output[0] if isinstance(output, tuple) else output
            return hidden

    return (ClassicBert if classic else Hidden)(encoder)


@contextlib.contextmanager
def _classic_attention(encoder):
    """``encoder``'s self-attention written as ONNX Runtime's optimizer expects it, while the exporter traces it.
    Only this encoder's modules change (their ``forward`` is set on the instances and removed afterwards): another
    BERT model that a thread of the same process runs meanwhile keeps the library's attention."""
    import types

    import torch

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        def heads(x):
            return x.view(x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)).permute(0, 2, 1, 3)

        query, key, value = heads(self.query(hidden_states)), heads(self.key(hidden_states)), \
            heads(self.value(hidden_states))
        scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        probabilities = torch.nn.functional.softmax(scores + attention_mask, dim=-1)
        context = torch.matmul(probabilities, value).permute(0, 2, 1, 3).contiguous()
        return context.view(context.size()[:-2] + (self.all_head_size,)), None

    modules = [layer.attention.self for layer in encoder.encoder.layer]
    for module in modules:
        module.forward = types.MethodType(forward, module)
    try:
        yield
    finally:
        for module in modules:
            del module.forward
