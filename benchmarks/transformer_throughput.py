"""Transformer classification speed: a plain Hugging Face pipeline beside `clinnlp classify`, and the
compute bound of this machine.

In one process and on the same OHSUMED abstracts (the shared training split, first --documents):

- pipeline: ``transformers.pipeline("text-classification")`` over the encoder's ``*ForSequenceClassification``
  with the same encoder weights as the model and a head of the same size (the same architecture and FLOPs),
  at its default batch size (1) and at ``--pipeline-batch-size``; it truncates at 512 tokens, so on long
  documents it does less work than we do;
- ours: the real batch path of ``clinnlp classify`` (``nlp.batch.classify_file``: streaming JSONL in,
  JSONL out, every window read, calibrated scores), without explanations (``--no-explain``; a second
  line gives the cost with them), once per runtime: the model's default (``auto``), torch with the model's
  precision (bfloat16 where the CPU has it), torch fp32, ONNX Runtime fp32 and ONNX Runtime int8.

It then multiplies a large matrix to measure the machine's peak (fp32 and bf16) and prints the compute
bound: the FLOPs our path spends per document (linear layers and attention of every window) over that
peak, and the share of it we reach. ``--accuracy`` also scores each runtime on the model's dev split.

An ensemble model is timed whole (its TF-IDF member too) with its transformer member's runtimes; the pipeline runs
that member's encoder. For the mpnet ensemble (about 7x MiniLM's work per document), 100 abstracts are enough:

    .venv/bin/python benchmarks/transformer_throughput.py [--model ohsumed-transformer] [--documents 400]
    .venv/bin/python benchmarks/transformer_throughput.py --model ohsumed-ensemble-mpnet --documents 100
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TARGET_RATIO = 2.0


def peak_gflops(dtype, size: int = 2048, repeats: int = 10) -> float:
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bf16"):
        torch.matmul(a, b)
        started = time.perf_counter()
        for _ in range(repeats):
            torch.matmul(a, b)
    return 2 * size ** 3 * repeats / (time.perf_counter() - started) / 1e9


def encoder_flops(config, lengths: list[int]) -> float:
    """FLOPs of an encoder reading sequences of ``lengths`` tokens: its linear layers (24 n d^2 per layer with a
    4d feed-forward) and attention (4 n^2 d); layer norms, softmax and activations left out (a lower bound)."""
    d, layers, ff = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    return float(sum(layers * (8 * n * d * d + 4 * n * d * ff + 4 * n * n * d) for n in lengths))


def flops_per_document(estimator, texts: list[str]) -> float:
    """:func:`encoder_flops` of every window of ``texts``, per document."""
    tokenizer, encoder = estimator._components()
    windows = estimator._windows(tokenizer, texts)
    return encoder_flops(encoder.config, [len(ids) for ids in windows.input_ids]) / len(texts)


def time_pipeline(estimator, texts: list[str], batch_size: int) -> float:
    import torch
    from transformers import AutoModelForSequenceClassification, pipeline

    tokenizer, encoder = estimator._components()
    settings = {k: v for k, v in encoder.config.to_dict().items() if k not in ("id2label", "label2id")}
    config = encoder.config.__class__(**settings, num_labels=len(estimator.classes_))
    model = AutoModelForSequenceClassification.from_config(config)
    model.base_model.load_state_dict(encoder.state_dict(), strict=False)
    classify = pipeline("text-classification", model=model.eval(), tokenizer=tokenizer, device=-1,
                        truncation=True, max_length=512)
    classify(texts[:2], batch_size=batch_size)  # warm up
    started = time.perf_counter()
    with torch.inference_mode():
        classify(texts, batch_size=batch_size)
    return len(texts) / (time.perf_counter() - started)


def time_ours(model, input_path: Path, explain: bool) -> float:
    from nlp.batch import classify_file

    model.estimator.transform(["warm up"])
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = classify_file(model, input_path, Path(folder) / "out.jsonl", explain=explain, progress=False)
        seconds = time.perf_counter() - started
    return result.processed / seconds


def dev_accuracy(model, data_dir: str | None) -> float:
    """Accuracy on the dev split the model card reports (carved again with the saved seed and fraction). A model
    refitted on all its data has seen that split: the figure then compares runtimes, not the model's accuracy."""
    from corpora import get_corpus, load_corpus
    from nlp.training import TrainingData, carve_dev

    training = model.meta["training"]
    info = get_corpus(training["corpus"])
    data = TrainingData.from_dataset(load_corpus(training["corpus"], data_dir)[training["split"]], {},
                                     info.label_names, info.grouped_by)
    _, dev = carve_dev(data, training["dev_fraction"], training["seed"])
    estimator = model.estimator
    picks = estimator.decide(estimator.predict_proba([data.texts[i] for i in dev]))
    if model.multi_label:
        return float(np.mean([sorted(str(estimator.classes_[i]) for i in row) == sorted(map(str, data.labels[j]))
                              for row, j in zip(picks, dev)]))
    return float(np.mean([str(estimator.classes_[row[0]]) == str(data.labels[j]) for row, j in zip(picks, dev)]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="ohsumed-transformer")
    parser.add_argument("--documents", type=int, default=400)
    parser.add_argument("--pipeline-batch-size", type=int, default=16)
    parser.add_argument("--accuracy", action="store_true", help="also score every runtime on the dev split")
    parser.add_argument("--data-dir")
    args = parser.parse_args()

    import torch

    import corpora
    from nlp.model_store import load_model

    texts = corpora.load_corpus("ohsumed", args.data_dir)["train"]["text"][:args.documents]
    model = load_model(args.model)
    estimator = getattr(model.estimator, "transformer_", model.estimator)  # an ensemble's transformer member
    print(f"{len(texts)} OHSUMED abstracts, model {model.name} ({model.meta['model_type']}; transformer "
          f"{estimator.method} on {estimator.base}, max_length {estimator.max_length}), "
          f"{torch.get_num_threads()} torch threads")
    with tempfile.TemporaryDirectory() as folder:
        input_path = Path(folder) / "in.jsonl"
        input_path.write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(texts)))
        rows = []

        def measured(name, speed):
            rows.append((name, speed))
            print(f"  {name}: {speed:.1f} docs/s", flush=True)

        measured("pipeline, batch 1 (default)", time_pipeline(estimator, texts, 1))
        measured(f"pipeline, batch {args.pipeline_batch_size}", time_pipeline(estimator, texts, args.pipeline_batch_size))
        original = {key: estimator.get_params()[key] for key in ("runtime", "precision")}
        torch_precision = estimator.set_runtime(runtime="torch").inference_runtime()[1]
        estimator.set_runtime(**original)
        runtimes = [("default: {} {}".format(*estimator.inference_runtime()), {})]
        if torch_precision != "fp32":  # bfloat16 on torch, which `auto` may not choose (it needs AMX)
            runtimes.append((f"torch {torch_precision}", {"runtime": "torch"}))
        runtimes += [("torch fp32", {"runtime": "torch", "precision": "fp32"}),
                     ("onnx fp32", {"runtime": "onnx", "precision": "fp32"}),
                     ("onnx int8", {"runtime": "onnx", "precision": "int8"})]
        accuracies = {}
        for name, params in runtimes:
            estimator.set_runtime(**{**original, **params})
            measured(f"clinnlp classify, {name}", time_ours(model, input_path, explain=False))
            if args.accuracy:
                accuracies[name] = dev_accuracy(model, args.data_dir)
        estimator.set_runtime(**original)
        measured("clinnlp classify, with explanations", time_ours(model, input_path, explain=True))
    baseline = rows[0][1]
    print(f"\n{'path':42} {'docs/s':>8} {'vs pipeline':>12}")
    for name, speed in rows:
        print(f"{name:42} {speed:8.1f} {speed / baseline:11.2f}x")
    ours = rows[2][1]
    print(f"\nours ({rows[2][0]}) / default pipeline: {ours / baseline:.2f}x (target {TARGET_RATIO}x): "
          + ("PASS" if ours / baseline >= TARGET_RATIO else "FAIL"))
    flops = flops_per_document(estimator, texts)
    speeds = dict(rows)
    for dtype, name in (("fp32", "clinnlp classify, torch fp32"), ("bf16", "clinnlp classify, torch bf16")):
        peak = peak_gflops(dtype)
        bound = peak * 1e9 / flops
        reached = f"; {name} reaches {speeds[name] / bound:.0%} of it" if name in speeds else ""
        print(f"compute bound in {dtype} (matmul peak {peak:.0f} GFLOP/s, {flops / 1e9:.2f} GFLOP per document "
              f"with every window): {bound:.1f} docs/s{reached}")
    if accuracies:
        print("\ndev accuracy: " + ", ".join(f"{name} {value:.4f}" for name, value in accuracies.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
