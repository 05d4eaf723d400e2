"""The ``clinnlp`` command: train, classify, summarize, analyze, evaluate, and list corpora and models.

Exit codes: 0 success; 1 some records failed (the rest were processed, see the errors file);
2 the command could not run (bad arguments, unreadable input, unknown model or corpus).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import nlp

EXIT_OK, EXIT_RECORDS_FAILED, EXIT_ERROR = 0, 1, 2
# Packages add commands here (``register(subparsers) -> {name: handler}``): the service adds serve and keys.
COMMANDS_GROUP = "clinnlp.commands"
TRUST_HELP = ("load a model directory from outside the models folder (weights are pickles, which can run code: only "
              "a model you made or trust)")


def _batch_arguments(parser: argparse.ArgumentParser, batch_size: int) -> None:
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: the CPUs available, at most 4)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _fields_arguments(parser: argparse.ArgumentParser, labels: bool) -> None:
    group = parser.add_argument_group("input columns (CSV/TSV columns or JSONL fields)")
    group.add_argument("--text-column", default="text", help="field holding the text (default: text)")
    group.add_argument("--id-column", default="id", help="field holding the id (default: id; else the line number)")
    if labels:
        group.add_argument("--label-column", default="label", help="field holding the label(s) (default: label)")
        group.add_argument("--label-delimiter", help="split a label field into several labels (multi-label), e.g. '|'")
        task = group.add_mutually_exclusive_group()
        task.add_argument("--multi-label", dest="multi_label", action="store_true", default=None,
                          help="treat the data as multi-label (default: detected)")
        task.add_argument("--single-label", dest="multi_label", action="store_false")


def _fields(args, labels: bool):
    from nlp.documents import Fields

    if labels:
        return Fields(args.text_column, args.id_column, args.label_column, args.label_delimiter)
    return Fields(args.text_column, args.id_column)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clinnlp", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"clinnlp {nlp.__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a classifier and save it as a model directory")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--corpus", help="a public corpus by name (see `clinnlp corpora`)")
    source.add_argument("--train-file", type=Path, help="your own CSV/TSV/JSONL file or folder of labelled .txt")
    train.add_argument("--split", default="train", help="corpus split to train on (default: train)")
    train.add_argument("--model", default="tfidf", help="model type (default: tfidf)")
    train.add_argument("--out", type=Path, required=True, help="model directory to write")
    train.add_argument("--name", help="model name (default: the --out folder's name)")
    train.add_argument("--model-version", help=f"model version (default: {nlp.__version__})")
    train.add_argument("--dev-fraction", type=float, default=0.15, help="share carved out for tuning (default: 0.15)")
    train.add_argument("--cv", type=int, default=0, metavar="K",
                       help="choose the setting by K-fold cross-validation on all the data instead of on the dev "
                            "split (which still gives the dev figures); 5 is usual (default: 0, the dev split)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--jobs", type=int, default=None, help="parallel jobs for per-label models")
    train.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                       help="set a model parameter instead of tuning it, e.g. --param method=frozen "
                            "(VALUE is read as JSON when it parses, else as text; repeatable)")
    train.add_argument("--data-dir", help="corpora folder (default: $CLINNLP_DATA_DIR, else ../shared/corpora)")
    train.add_argument("--not-served-by-default", dest="served_by_default", action="store_false",
                       help="a model the service loads only when CLINNLP_CLASSIFIERS names it (a slow or large "
                            "one); the command line uses it either way")
    _fields_arguments(train, labels=True)

    classify = commands.add_parser("classify", help="classify a JSONL/CSV file or a folder of .txt files")
    classify.add_argument("input", type=Path, help="JSONL ({\"id\", \"text\"} per line), CSV, TSV, or a .txt folder")
    classify.add_argument("-o", "--output", type=Path, required=True, help="results, one JSON object per line")
    classify.add_argument("--model", required=True, help="model directory, or a name in the models folder")
    classify.add_argument("--trust", action="store_true", help=TRUST_HELP)
    _batch_arguments(classify, batch_size=256)
    classify.add_argument("--no-explain", action="store_true", help="leave out explanations (faster)")
    classify.add_argument("--runtime", choices=["auto", "torch", "onnx"], help="transformer models: auto (the "
                          "model's default: torch in bfloat16 where the CPU has AMX, else ONNX Runtime), torch, or "
                          "ONNX Runtime (the encoder exported on first use, cached in ~/.cache/clinnlp)")
    classify.add_argument("--precision", choices=["auto", "bf16", "fp32", "int8"], help="transformer models: auto "
                          "(bfloat16 on torch where the CPU has it, else fp32), bf16 (torch), fp32, or int8 (ONNX "
                          "Runtime, quantized weights: faster, about 0.6 accuracy points lower)")
    _fields_arguments(classify, labels=False)

    classify.add_argument("--deidentify", action="store_true", help="de-identify each note first (redact); "
                          "explanation offsets then refer to the de-identified text, given as deidentified_text")
    deidentify = commands.add_parser("deidentify", help="remove the HIPAA Safe Harbor identifiers from notes")
    deidentify.add_argument("input", type=Path, help="JSONL ({\"id\", \"text\"} per line), CSV, TSV, or a .txt folder")
    deidentify.add_argument("-o", "--output", type=Path, required=True,
                            help="de-identified notes, one {\"id\", \"text\", \"phi\"} object per line")
    deidentify.add_argument("--operator", default="redact", choices=["redact", "surrogate"],
                            help="redact: [NAME], [DATE], ...; surrogate: realistic fakes, consistent per note, "
                                 "dates shifted by one offset per note (default: redact)")
    deidentify.add_argument("--types", help="only these identifier types, comma-separated (default: all: "
                                            "NAME,DATE,AGE,PHONE,EMAIL,ADDRESS,CITY,ZIP,HOSPITAL,WARD,MRN,ACCOUNT,"
                                            "HEALTH_PLAN,LICENSE,SSN,VEHICLE,DEVICE,URL,IP,ID)")
    _batch_arguments(deidentify, batch_size=64)
    _fields_arguments(deidentify, labels=False)

    summarize = commands.add_parser("summarize", help="summarize a JSONL/CSV file or a folder of .txt files")
    summarize.add_argument("input", type=Path, help="JSONL ({\"id\", \"text\"} per line), CSV, TSV, or a .txt folder")
    summarize.add_argument("-o", "--output", type=Path, required=True, help="summaries, one JSON object per line")
    summarize.add_argument("--method", default="extractive",
                           help="extractive (default), lead, textrank, lexrank or abstractive")
    summarize.add_argument("--max-words", type=int, help="hard cap on each summary's words")
    summarize.add_argument("--max-sentences", type=int, help="cap on each summary's sentences (default 3 when "
                                                            "neither limit is given)")
    summarize.add_argument("--sections", help="only these note sections, comma-separated (e.g. hpi,assessment,plan)")
    summarize.add_argument("--model", help="abstractive: a local seq2seq checkpoint folder or a hub id; "
                                           "extractive: a sentence-transformers model (default: packaged MiniLM)")
    summarize.add_argument("--prompt", default="", help="abstractive: text put before each input (T5: 'summarize: ')")
    summarize.add_argument("--batch-size", type=int, default=32)
    summarize.add_argument("--deidentify", action="store_true", help="de-identify each note first (redact); "
                           "sentence offsets then refer to the de-identified text, given as deidentified_text")
    summarize.add_argument("--no-progress", action="store_true", help="no progress bar")
    _fields_arguments(summarize, labels=False)

    analyze = commands.add_parser("analyze", help="find sections, concepts and their assertions (negated, historical, "
                                                  "...) in a JSONL/CSV file or a folder of .txt files")
    analyze.add_argument("input", type=Path, help="JSONL ({\"id\", \"text\", \"terms\"} per line), CSV, TSV, or a .txt "
                                                 "folder; a record's optional \"terms\" are looked for in it alone")
    analyze.add_argument("-o", "--output", type=Path, required=True, help="results, one JSON object per line")
    analyze.add_argument("--terms", type=Path, help="more terms to look for in every document: a text file (one term a "
                                                    "line), or JSON/JSONL of strings or {\"concept\", \"category\", "
                                                    "\"synonyms\"} objects")
    analyze.add_argument("--no-lexicon", action="store_true", help="only look for --terms and each record's terms, "
                                                                   "not the packaged concepts")
    _batch_arguments(analyze, batch_size=64)
    _fields_arguments(analyze, labels=False)

    learn = commands.add_parser("train-summarizer",
                                help="fit the extractive summarizer's sentence scorer on the shared summarization sets")
    learn.add_argument("--out", type=Path, help="scorer file (default: the packaged nlp/data/sentence_scorer.json)")
    learn.add_argument("--data-dir", help="corpora folder (default: $CLINNLP_DATA_DIR, else ../shared/corpora)")

    roles = commands.add_parser("train-roles", help="train the sentence-role model (NICTA-PIBOSO) that mining uses")
    roles.add_argument("--out", type=Path, default=Path("models/piboso-roles"), help="model directory "
                       "(default: models/piboso-roles)")
    roles.add_argument("--data-dir", help="corpora folder (default: $CLINNLP_DATA_DIR, else ../shared/corpora)")

    mine = commands.add_parser("mine", help="mine a literature collection: categories, summaries, sentence roles, "
                                            "topics, association rules, an HTML report")
    mine.add_argument("input", type=Path, help="JSONL/CSV/TSV (id, title, abstract or text), PubMed XML (.xml, "
                                               ".xml.gz), RIS, or a folder of such files")
    mine.add_argument("-o", "--out-dir", type=Path, required=True, help="output folder (a re-run resumes in it)")
    mine.add_argument("--model", default="ohsumed-tfidf", help="category model (default: ohsumed-tfidf)")
    mine.add_argument("--summarizer", default="extractive", choices=["extractive", "lead", "textrank", "lexrank", "none"],
                      help="summary method (default: extractive; lead is about 20x faster)")
    mine.add_argument("--roles-model", default="piboso-roles", help="sentence-role model (default: piboso-roles)")
    mine.add_argument("--trust", action="store_true", help=TRUST_HELP)
    mine.add_argument("--engine", default="local", choices=["local", "ray"], help="local processes or Ray")
    mine.add_argument("--ray-address", help="join this Ray cluster (e.g. ray://head:10001 or auto); default: "
                                            "start a local Ray instance")
    mine.add_argument("--workers", type=int, help="worker processes or Ray actors, each holding the models "
                                                  "(default: the CPUs available, at most 4)")
    mine.add_argument("--shard-size", type=int, default=1000, help="articles per shard (default: 1000)")
    mine.add_argument("--topics", type=int, help="number of topics (default: about sqrt(documents/2), 2 to 30)")
    mine.add_argument("--no-progress", action="store_true", help="no progress bars")
    mine.add_argument("--deidentify", action="store_true", help="de-identify titles and abstracts (redact) before "
                      "they are staged, so no identifier is stored; offsets then refer to the de-identified text")

    evaluate = commands.add_parser("evaluate", help="score a model on a corpus split or a labelled file")
    evaluate.add_argument("--model", required=True, help="model directory, or a name in the models folder")
    evaluate.add_argument("--trust", action="store_true", help=TRUST_HELP)
    target = evaluate.add_mutually_exclusive_group(required=True)
    target.add_argument("--corpus", help="a public corpus by name")
    target.add_argument("--test-file", type=Path, help="your own labelled CSV/TSV/JSONL file or .txt folder")
    evaluate.add_argument("--split", help="corpus split (default: test, else validation, else train)")
    evaluate.add_argument("--out-dir", type=Path, default=Path("out/evaluate"),
                          help="where the JSON report and PNG plot go (default: out/evaluate)")
    evaluate.add_argument("--data-dir", help="corpora folder (default: $CLINNLP_DATA_DIR, else ../shared/corpora)")
    evaluate.add_argument("--folds", type=int, default=5, help="folds when the data is the model's own training data "
                                                              "(its settings are cross-validated; default 5)")
    evaluate.add_argument("--on-training-data", action="store_true",
                          help="score the model on its own training data anyway (training-set figures)")
    _fields_arguments(evaluate, labels=True)

    corpora_cmd = commands.add_parser("corpora", help="list the public corpora this project reads")
    corpora_cmd.add_argument("--data-dir", help="corpora folder, to show which are present")
    corpora_cmd.add_argument("--card", metavar="NAME", help="print one corpus's dataset card")
    commands.add_parser("models", help="list the models in the models folder")

    show = commands.add_parser("show", help="print a results file for people")
    show.add_argument("results", type=Path, nargs="+")
    show.add_argument("--limit", type=int, default=5, help="records per file (default: 5)")

    handlers = {"train": cmd_train, "classify": cmd_classify, "deidentify": cmd_deidentify, "summarize": cmd_summarize,
                "analyze": cmd_analyze,
                "train-summarizer": cmd_train_summarizer, "train-roles": cmd_train_roles, "mine": cmd_mine,
                "evaluate": cmd_evaluate, "corpora": cmd_corpora, "models": cmd_models, "show": cmd_show}
    for plugin in entry_points(group=COMMANDS_GROUP):  # the service's serve and keys, when installed
        handlers.update(plugin.load()(commands))
    for name, handler in handlers.items():
        commands.choices[name].set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    from corpora import CorpusError
    from nlp.documents import InputError
    from nlp.model_store import ModelError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return args.handler(args)
    except (CorpusError, InputError, ModelError, ValueError) as error:
        print(f"clinnlp {args.command}: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:  # a file the user named: missing, unreadable, a folder, a full disk
        where = f"{error.filename}: " if error.filename else ""
        print(f"clinnlp {args.command}: error: {where}{error.strerror or type(error).__name__}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"clinnlp {args.command}: interrupted", file=sys.stderr)
        return 130


def _load_labelled(args, default_split: str | None):
    """Texts and labels from --corpus/--split or from a labelled file, as TrainingData."""
    from corpora import get_corpus, load_corpus, load_files
    from nlp.training import TrainingData

    if args.corpus:
        info = get_corpus(args.corpus)
        if info.task not in ("single_label", "multi_label"):
            raise ValueError(f"corpus {args.corpus!r} is a {info.task} corpus, not a classification one")
        splits = load_corpus(args.corpus, args.data_dir)
        split = default_split or next((s for s in ("test", "validation", "train") if s in splits), None)
        if split not in splits:
            raise ValueError(f"corpus {args.corpus!r} has no split {split!r}; it has {', '.join(splits)}")
        return TrainingData.from_dataset(splits[split], {"corpus": args.corpus, "split": split},
                                         info.label_names, info.grouped_by)
    path = args.train_file if args.command == "train" else args.test_file
    errors = []
    dataset = load_files(path, _fields(args, labels=True), args.multi_label, errors)
    for error in errors[:20]:
        logging.warning("skipped %s: %s", error.source, error.reason)
    if len(errors) > 20:
        logging.warning("... and %d more skipped records", len(errors) - 20)
    return TrainingData.from_dataset(dataset, {"file": str(path)})


def _command_line(subcommand: str) -> str | None:
    """The command line that ran ``subcommand``, for model cards (None when called as a library)."""
    arguments = [a for a in sys.argv[1:] if a not in ("-v", "--verbose")]
    return "clinnlp " + shlex.join(arguments) if arguments[:1] == [subcommand] else None


def cmd_train(args) -> int:
    from nlp.training import train

    data = _load_labelled(args, args.split)
    logging.info("training %s on %d documents (%s)", args.model, len(data.texts),
                 "multi-label" if data.multi_label else "single-label")
    command = _command_line("train")
    out = train(data, args.model, args.out, name=args.name, version=args.model_version,
                dev_fraction=args.dev_fraction, seed=args.seed, n_jobs=args.jobs, command=command,
                fixed=parse_params(args.param), cv=args.cv, served_by_default=args.served_by_default)
    meta = json.loads((out / "model.json").read_text())
    dev = meta["dev_metrics"]
    logging.info("saved %s: dev accuracy %.4f, micro-F1 %.4f, macro-F1 %.4f (params %s)", out,
                 dev["accuracy"], dev["micro_f1"], dev["macro_f1"], meta["params"])
    if "cross_validation" in dev:
        cv = dev["cross_validation"]
        logging.info("%d-fold cross-validation: accuracy %.4f, micro-F1 %.4f, macro-F1 %.4f", cv["folds"],
                     cv["accuracy"]["mean"], cv["micro_f1"]["mean"], cv["macro_f1"]["mean"])
    return EXIT_OK


def parse_params(pairs: list[str]) -> dict:
    """``NAME=VALUE`` pairs as a dict; VALUE is JSON when it parses (numbers, true), else text."""
    parameters = {}
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or not name:
            raise ValueError(f"--param {pair!r}: expected NAME=VALUE")
        try:
            parameters[name] = json.loads(value)
        except json.JSONDecodeError:
            parameters[name] = value
    return parameters


def cmd_classify(args) -> int:
    from nlp.batch import ClassificationWriter, process_file
    from nlp.parallel import default_workers
    from nlp.model_store import load_model

    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be at least 1")
    model = load_model(args.model, trusted=args.trust)
    _set_runtime(model.estimator, runtime=args.runtime, precision=args.precision)
    writer = _deidentified_first(ClassificationWriter(model, explain=not args.no_explain), args.deidentify)
    result = process_file(writer, args.input, args.output, _fields(args, labels=False), args.batch_size,
                          progress=not args.no_progress,
                          workers=args.workers or (1 if getattr(model.estimator, "threaded_inference", False)
                                                   else default_workers()))
    return _report(result, "classified", f"{model.name} {model.version}")


def _deidentified_first(writer, deidentify: bool):
    """``writer``, or ``writer`` run on notes de-identified first (``--deidentify``)."""
    if not deidentify:
        return writer
    from nlp.batch import DeidentifiedFirst
    from nlp.privacy import Deidentifier

    return DeidentifiedFirst(writer, Deidentifier())


def cmd_deidentify(args) -> int:
    from nlp.batch import DeidentifyWriter, process_file
    from nlp.parallel import default_workers
    from nlp.privacy import Deidentifier

    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be at least 1")
    types = [t for t in (args.types or "").split(",") if t.strip()] or None
    deidentifier = Deidentifier(operator=args.operator, types=types)
    deidentifier.analyzer  # loads spaCy and the recognizers once, before worker processes fork
    result = process_file(DeidentifyWriter(deidentifier), args.input, args.output, _fields(args, labels=False),
                          args.batch_size, progress=not args.no_progress, workers=args.workers or default_workers())
    return _report(result, "de-identified", args.operator)


def _set_runtime(estimator, **settings) -> None:
    """Apply runtime settings (``--runtime``, ``--precision``) to a model whose type takes them."""
    from nlp.classifiers import type_of

    settings = {key: value for key, value in settings.items() if value}
    if not settings:
        return
    entry = type_of(estimator)
    unsupported = [name for name in settings if name not in entry.runtime_options]
    if unsupported:
        raise ValueError(f"--{' / --'.join(unsupported)} do(es) not apply to {entry.name} models")
    estimator.set_runtime(**settings)


def _report(result, verb: str, method: str) -> int:
    """One line on stderr for a batch run, another for failed records; the exit code."""
    rate = result.processed / result.seconds if result.seconds else 0.0
    print(f"{verb} {result.processed} documents with {method} in {result.seconds:.2f} s "
          f"({rate:.1f} docs/s) -> {result.output}", file=sys.stderr)
    if result.failed:
        print(f"{result.failed} records failed -> {result.errors}", file=sys.stderr)
        return EXIT_RECORDS_FAILED
    return EXIT_OK


def cmd_summarize(args) -> int:
    from nlp.batch import SummaryWriter, process_file
    from nlp.clinical.sections import resolve_sections
    from nlp.summarizers import Budget, get_summarizer

    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    Budget(args.max_words, args.max_sentences)  # validates the limits before any model loads
    sections = [name for name in (args.sections or "").split(",") if name.strip()] or None
    if sections:
        resolve_sections(sections)
    options = {}
    if args.method == "abstractive":
        options = {"model": args.model, "prompt": args.prompt}
    elif args.model and args.method == "extractive":
        options = {"model": args.model}
    elif args.model:
        raise ValueError(f"--model does not apply to --method {args.method}")
    summarizer = get_summarizer(args.method, **options)
    writer = _deidentified_first(SummaryWriter(summarizer, args.max_words, args.max_sentences, sections),
                                 args.deidentify)
    result = process_file(writer, args.input, args.output, _fields(args, labels=False), args.batch_size,
                          progress=not args.no_progress)
    return _report(result, "summarized", args.method)


def cmd_analyze(args) -> int:
    from dataclasses import replace

    from nlp.batch import AnalysisWriter, process_file
    from nlp.clinical.analyze import ClinicalAnalyzer
    from nlp.clinical.lexicon import read_terms_file
    from nlp.parallel import default_workers

    if args.batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be at least 1")
    terms = read_terms_file(args.terms) if args.terms else ()
    if args.no_lexicon and not terms:
        logging.warning("--no-lexicon without --terms: only each record's own terms are looked for")
    writer = AnalysisWriter(ClinicalAnalyzer(terms=terms, lexicon=not args.no_lexicon))
    fields = replace(_fields(args, labels=False), terms=AnalysisWriter.fields.terms)
    result = process_file(writer, args.input, args.output, fields, args.batch_size, progress=not args.no_progress,
                          workers=args.workers or default_workers())
    return _report(result, "analyzed", "clinical analysis")


def cmd_train_roles(args) -> int:
    from nlp.mining.roles_training import train_roles

    command = _command_line("train-roles")
    meta = train_roles(args.out, args.data_dir, command=command)
    dev = meta["dev_metrics"]
    print(f"saved {args.out}: dev micro-F1 {dev['micro_f1']}, weighted-F1 {dev['weighted_f1']}, "
          f"macro-F1 {dev['macro_f1']} ({meta['training']['seconds']} s)", file=sys.stderr)
    return EXIT_OK


def cmd_mine(args) -> int:
    from nlp.parallel import default_workers
    from nlp.mining.analyze import MiningSettings
    from nlp.mining.run import mine

    settings = MiningSettings(model=args.model, summarizer=args.summarizer, roles_model=args.roles_model,
                              trusted=args.trust, deidentify=args.deidentify)
    result = mine(args.input, args.out_dir, settings, engine=args.engine, workers=args.workers or default_workers(),
                  shard_size=args.shard_size, topics=args.topics, ray_address=args.ray_address,
                  progress=not args.no_progress)
    total = sum(result.seconds.values())
    rate = result.documents / total if total else 0.0
    print(f"mined {result.documents} documents in {result.shards} shards ({result.shards_analyzed} analyzed now) "
          f"in {total:.1f} s ({rate:.1f} docs/s) -> {result.out_dir}/report.html", file=sys.stderr)
    if result.errors:
        print(f"{result.errors} records failed -> {result.out_dir}/errors.jsonl", file=sys.stderr)
        return EXIT_RECORDS_FAILED
    return EXIT_OK


def cmd_train_summarizer(args) -> int:
    from importlib import resources

    from nlp.segmentation import Segmenter
    from nlp.summarizers.extractive import KEY_SECTIONS, ExtractiveSummarizer
    from nlp.summarizers.scorer_training import SETS, load_pairs, train_scorer
    from nlp.summarizers.sentence_scorer import SCORER_FILE

    out = args.out or Path(str(resources.files("nlp").joinpath("data", SCORER_FILE)))
    sets = {name: load_pairs(name, "train", args.data_dir) for name in SETS}
    logging.info("fitting the sentence scorer on %s", ", ".join(f"{n} ({len(t)})" for n, (t, _) in sets.items()))
    encoder = ExtractiveSummarizer(scorer=None).encoder
    scorer = train_scorer(sets, encoder, Segmenter(), KEY_SECTIONS)
    scorer.save(out)
    logging.info("saved %s (%d sentences)", out, scorer.meta["sentences"])
    return EXIT_OK


def cmd_evaluate(args) -> int:
    from nlp.classifiers import get_classifier_type
    from nlp.evaluation import classification_metrics, save_plot
    from nlp.model_store import load_model
    from nlp.training import carve_dev, cross_validate

    model = load_model(args.model, trusted=args.trust)
    data = _load_labelled(args, args.split)
    if data.multi_label != model.multi_label:
        raise ValueError(f"model {model.name} is {model.meta['task']} but the data is "
                         f"{'multi' if data.multi_label else 'single'}-label")
    training = model.meta.get("training", {})
    estimator = model.estimator
    where = data.source.get("corpus", Path(data.source.get("file", "data")).stem)
    split = data.source.get("split", "file")
    seen = data.sha256() == training.get("data_sha256")
    if not seen or args.on_training_data:
        scored_on = (f"{where}/{split}: {len(data.texts)} documents "
                     + ("the model was TRAINED ON (training-set figures: they measure memory, not accuracy)"
                        if seen else "the model was not trained on"))
        texts, gold = data.texts, data.labels
        proba = estimator.predict_proba(texts)
        picks = estimator.decide(proba)
    elif training.get("fitted_on") == "train part":
        _, dev = carve_dev(data, training["dev_fraction"], training["seed"])
        scored_on = (f"the {len(dev)}-document dev split of {where}/{split} that {model.name} was not fitted on "
                     f"(its settings were chosen on it; fraction {training['dev_fraction']}, seed {training['seed']})")
        texts, gold = [data.texts[i] for i in dev], [data.labels[i] for i in dev]
        proba = estimator.predict_proba(texts)
        picks = estimator.decide(proba)
    elif get_classifier_type(model.meta.get("model_type", "")).refit:  # a type cheap enough to refit on all
        scored_on = (f"{args.folds}-fold cross-validation on {where}/{split} ({len(data.texts)} documents): "
                     f"{model.name} was trained on all of it, so {args.folds} copies with its settings were refitted, "
                     "each scored on the fold it did not see")
        logging.info("%s was trained on this data: cross-validating its settings instead (%d refits)",
                     model.name, args.folds)
        from nlp.classifiers.vector_cache import remembering

        with remembering():  # refits on the same texts: a frozen encoder reads each once, as in training
            result = cross_validate(data, estimator, args.folds, progress=lambda number, m: logging.info(
                "fold %d: accuracy %.4f micro-F1 %.4f macro-F1 %.4f", number, m["accuracy"], m["micro_f1"],
                m["macro_f1"]))
        gold, proba, picks = data.labels, result.proba, result.picks
    else:
        raise ValueError(f"{model.name} was trained on all of {where}/{split}: scoring it there measures memory, "
                         "not accuracy. Score it on data it has not seen (--test-file), or pass --on-training-data "
                         "to see training-set figures anyway")
    metrics = classification_metrics(gold, proba, picks, estimator.classes_, model.multi_label)
    stem = f"{model.name}-{where}-{split}"
    args.out_dir.mkdir(parents=True, exist_ok=True)
    report = {"model": model.name, "version": model.version, "data": data.source, "scored_on": scored_on, **metrics}
    report_path = args.out_dir / f"{stem}.json"
    report_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot = save_plot(gold, picks, estimator.classes_, model.multi_label, args.out_dir / f"{stem}.png",
                     model.label_names, title=f"{model.name}: {textwrap.shorten(scored_on, 110)}")
    print(f"{model.name} {model.version}\nscored on: {scored_on}\n"
          f"accuracy {metrics['accuracy']}  micro-F1 {metrics['micro_f1']}  macro-F1 {metrics['macro_f1']}  "
          f"({metrics['documents']} documents)\nreport -> {report_path}\nplot   -> {plot}")
    return EXIT_OK


def cmd_corpora(args) -> int:
    from corpora import CORPORA, CorpusError, get_corpus, resolve_data_dir

    if args.card:
        print(get_corpus(args.card).card_text())
        return EXIT_OK
    try:
        data_dir = resolve_data_dir(args.data_dir)
    except CorpusError:
        data_dir = None
    for info in CORPORA.values():
        present = "present" if data_dir and (data_dir / info.folder).is_dir() else "missing"
        print(f"{info.name:20} {info.task:14} {present:8} {info.description}")
    print(f"data directory: {data_dir or 'none found (pass --data-dir or set CLINNLP_DATA_DIR)'}")
    return EXIT_OK


def cmd_models(args) -> int:
    from nlp.model_store import default_models_dir, list_models

    for meta in list_models():
        dev = meta.get("dev_metrics", {})
        scores = " ".join(f"{label} {dev[key]}" for key, label in (("accuracy", "accuracy"), ("micro_f1", "micro-F1"),
                                                                  ("macro_f1", "macro-F1")) if key in dev)
        served = "" if meta.get("served_by_default", True) else "  (served only when named)"
        print(f"{meta['name']:24} {meta['version']:8} {meta['task']:14} {meta.get('model_type', ''):12} "
              f"{len(meta['labels']):3} labels  dev {scores}{served}")
    print(f"models folder: {default_models_dir()}")
    return EXIT_OK


def cmd_show(args) -> int:
    for path in args.results:
        print(f"== {path}")
        with Path(path).open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if number > args.limit:
                    break
                try:
                    result = json.loads(line)
                except json.JSONDecodeError:
                    raise ValueError(f"{path}:{number}: not a JSON line (is this a clinnlp results file?)") from None
                print(_readable(result))
    return EXIT_OK


def _readable(result: dict) -> str:
    """One result record for people: a summary, labels with the terms behind each, or an error's reason."""
    if not isinstance(result, dict):
        return str(result)
    name = result.get("id")
    if "summary" in result:
        return f"{name}: {result['summary'] or '(empty)'}"
    if "labels" in result and "scores" in result:
        lines = [f"{name}:"]
        for label, label_name in zip(result["labels"], result.get("label_names", result["labels"])):
            terms = dict.fromkeys(item["term"] for item in result.get("explanation", []) if item.get("label") == label)
            because = f"  because of: {', '.join(list(terms)[:5])}" if terms else ""
            lines.append(f"    {label_name} ({result['scores'][label]:.2f}){because}")
        if not result["labels"]:  # a model that may predict no label found none
            lines.append("    (no label reached the model's threshold)")
        return "\n".join(lines)
    if "concepts" in result:
        flags = ("negated", "historical", "hypothetical", "family", "uncertain")
        mentions = [f"{c['concept']}" + "".join(f" [{flag}]" for flag in flags if c.get(flag))
                    for c in result["concepts"]]
        sections = ", ".join(s["name"] for s in result.get("sections", []))
        return f"{name}: sections: {sections or '(none)'}\n    concepts: {'; '.join(mentions[:15]) or '(none)'}"
    if "reason" in result:
        return f"{name}: failed at {result.get('source')}: {result['reason']}"
    return f"{name}: " + json.dumps({k: v for k, v in result.items() if k != "id"}, ensure_ascii=False)[:300]


if __name__ == "__main__":
    sys.exit(main())
