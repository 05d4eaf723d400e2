"""Whole commands, start-up included, as a user meets them: `clinnlp classify` beside a plain
`transformers.pipeline` script on the same abstracts (#13).

Each command runs in a fresh process on the first ``--documents`` OHSUMED abstracts (JSONL in, JSONL out) and
on one abstract, ``--repeats`` times; the best wall time of each is kept (the first run of all also fills the
operating system's file cache and clinnlp's merged-encoder cache, as any second use of the tool would find them).

- pipeline: a script a user would write: ``transformers.pipeline("text-classification")`` over a
  ``BertForSequenceClassification`` saved with the committed model's encoder weights and a head of the same size
  (made once, before timing), default batch size, truncating at 512 tokens;
- ``clinnlp classify --model ohsumed-transformer --no-explain`` and with explanations (its default), on the
  default runtime (``auto``: torch in bfloat16 on CPUs with AMX, else ONNX Runtime in fp32);
- the same on the runtime ``auto`` does not choose here: ``--runtime onnx`` (fp32) on a CPU with AMX,
  ``--runtime torch`` on one without (bfloat16 where the CPU has AVX512-BF16, else fp32);
- with ``--int8``, also ``--precision int8`` (ONNX Runtime, quantized weights).

It also prints the arithmetic behind the figures: the tokens each command's encoder reads (the pipeline truncates
at 512 tokens; clinnlp reads every token in its windows), the floating-point operations that costs (per token and
layer: 24 d^2 for the projections and the feed-forward block, 4 n d for attention over n tokens; layer norms,
softmax and activations left out, so it is a lower bound), and this machine's fp32 matrix-multiply rate on the
encoder's own shapes (torch and ONNX Runtime, all cores, best of several runs; the faster counts). The ratio of
the two is about the fastest an fp32 runtime could read these abstracts here (a library with faster kernels than
both would beat it): a whole command cannot beat the pipeline script by much more than the pipeline's time over
that.

    .venv/bin/python benchmarks/whole_process.py [--documents 400] [--repeats 2] [--int8] [--model M ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLINNLP = str(Path(sys.executable).with_name("clinnlp"))
sys.path.insert(0, str(ROOT / "benchmarks"))  # sibling benchmarks (pysbd installs a package named `benchmarks`)

PIPELINE_SCRIPT = """
import json, sys
from transformers import pipeline
texts = [json.loads(line)["text"] for line in open(sys.argv[2], encoding="utf-8")]
classify = pipeline("text-classification", model=sys.argv[1], device=-1, truncation=True, max_length=512)
with open(sys.argv[3], "w", encoding="utf-8") as out:
    for text, result in zip(texts, classify(texts)):
        out.write(json.dumps(result) + "\\n")
"""


def save_pipeline_model(model_name: str, folder: Path) -> None:
    """The committed model's encoder with a sequence-classification head of the same size, saved for the
    pipeline script (the head is untrained: it costs what a trained one costs)."""
    from transformers import BertForSequenceClassification

    from nlp.model_store import load_model

    estimator = load_model(model_name).estimator
    tokenizer, encoder = estimator._components()
    settings = {k: v for k, v in encoder.config.to_dict().items() if k not in ("id2label", "label2id")}
    model = BertForSequenceClassification(encoder.config.__class__(**settings, num_labels=len(estimator.classes_)))
    model.bert.load_state_dict(encoder.state_dict(), strict=False)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def encoder_arithmetic(model_name: str, texts: list[str]) -> tuple[dict[str, tuple[int, float]], int]:
    """Tokens read and GFLOP (lower bound, :func:`transformer_throughput.encoder_flops`) of the pipeline script and
    of clinnlp's windows on ``texts``, and the encoder's hidden size."""
    from transformer_throughput import encoder_flops

    from nlp.model_store import load_model

    estimator = load_model(model_name).estimator
    tokenizer, encoder = estimator._components()
    lengths = {"pipeline script": [len(ids) for ids in tokenizer(texts, truncation=True, max_length=512)["input_ids"]],
               "clinnlp": [len(ids) for ids in estimator._windows(tokenizer, texts).input_ids]}
    return ({name: (sum(sizes), encoder_flops(encoder.config, sizes) / 1e9) for name, sizes in lengths.items()},
            encoder.config.hidden_size)


def matmul_gflops(hidden: int, rows: int = 2048, repeats: int = 20) -> dict[str, float]:
    """This machine's fp32 matrix-multiply rate (GFLOP/s) on an encoder's feed-forward shapes, all cores, in torch
    and in ONNX Runtime (their kernels differ: on an AMD EPYC with AVX-512, ONNX Runtime's were 2.2x torch's)."""
    import os

    import numpy as np
    import onnxruntime
    import torch
    from onnx import TensorProto, helper, numpy_helper

    threads = os.cpu_count() or 1
    rng = np.random.default_rng(0)
    tokens = rng.standard_normal((rows, hidden), dtype=np.float32)
    up = rng.standard_normal((hidden, 4 * hidden), dtype=np.float32)
    down = rng.standard_normal((4 * hidden, hidden), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "up"], ["h"]), helper.make_node("MatMul", ["h", "down"], ["y"])], "ffn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, hidden])],
        [numpy_helper.from_array(up, "up"), numpy_helper.from_array(down, "down")])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(
        helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString(),
        options, providers=["CPUExecutionProvider"])
    torch.set_num_threads(threads)
    torch_inputs = [torch.from_numpy(array) for array in (tokens, up, down)]
    runs = {"torch": lambda: torch.matmul(torch.matmul(torch_inputs[0], torch_inputs[1]), torch_inputs[2]),
            "ONNX Runtime": lambda: session.run(None, {"x": tokens})}
    rates = {}
    for name, run in runs.items():
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - started)
        rates[name] = 2 * 2 * rows * hidden * 4 * hidden / best / 1e9
    return rates


def best_seconds(command: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", help="a model to time (repeat to compare models in one run; "
                        "the first one's encoder is the pipeline's); default ohsumed-transformer")
    parser.add_argument("--documents", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data-dir")
    parser.add_argument("--int8", action="store_true", help="also time --precision int8")
    args = parser.parse_args()
    models = args.model or ["ohsumed-transformer"]

    import corpora
    from nlp.classifiers.transformer import amx_supported

    texts = corpora.load_corpus("ohsumed", args.data_dir)["train"]["text"][:args.documents]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        save_pipeline_model(models[0], folder / "pipeline-model")
        inputs = {}
        for name, chosen in (("one", texts[:1]), ("all", texts)):
            inputs[name] = folder / f"{name}.jsonl"
            inputs[name].write_text("".join(json.dumps({"id": str(i), "text": t}) + "\n" for i, t in enumerate(chosen)))
        script = folder / "pipeline_script.py"
        script.write_text(PIPELINE_SCRIPT)
        commands = {"pipeline script": lambda i: [sys.executable, str(script), str(folder / "pipeline-model"), str(i),
                                                  str(folder / "out.jsonl")]}
        other = "onnx" if amx_supported() else "torch"  # the runtime `auto` does not choose on this CPU
        variants = [("--no-explain", ["--no-explain"]), ("(explanations)", []),
                    (f"--runtime {other} --no-explain", ["--runtime", other, "--no-explain"])]
        if args.int8:
            variants.append(("--precision int8 --no-explain", ["--precision", "int8", "--no-explain"]))
        for model in models:
            for label, extra in variants:
                name = f"clinnlp classify {label}" + (f" [{model}]" if len(models) > 1 else "")
                commands[name] = lambda i, model=model, extra=extra: [
                    CLINNLP, "classify", str(i), "-o", str(folder / "out.jsonl"), "--model", model, "--no-progress",
                    *extra]
        rows = {}
        for name, command in commands.items():
            rows[name] = {size: best_seconds(command(path), args.repeats) for size, path in inputs.items()}
            print(f"  {name}: one abstract {rows[name]['one']:.1f} s, {len(texts)} abstracts {rows[name]['all']:.1f} s",
                  flush=True)
    baseline = rows["pipeline script"]
    print(f"\n| command | one abstract, s | {len(texts)} abstracts, s | {len(texts)} abstracts vs pipeline |")
    print("|---|---|---|---|")
    for name, row in rows.items():
        print(f"| {name} | {row['one']:.1f} | {row['all']:.1f} | {baseline['all'] / row['all']:.2f}x |")

    arithmetic, hidden = encoder_arithmetic(models[0], texts)
    rates = matmul_gflops(hidden)
    rate = max(rates.values())
    measured = ", ".join(f"{name} {value:.0f}" for name, value in rates.items())
    print(f"\nArithmetic ({models[0]}'s encoder; fp32 matrix multiply here, GFLOP/s on its shapes: {measured}):")
    for name, (tokens, work) in arithmetic.items():
        print(f"  {name}: {tokens} tokens, {work:.0f} GFLOP, at least {work / rate:.1f} s of encoder time in fp32")
    floor = arithmetic["clinnlp"][1] / rate
    print(f"  so in fp32 a clinnlp command can beat the pipeline script by at most about "
          f"{baseline['all'] / floor:.2f}x here (its {baseline['all']:.1f} s over that floor, start-up not counted)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
