"""The ``unimse-hf`` command line. One ``_add_<command>_parser`` function per subcommand."""

import argparse
import sys
from pathlib import Path


def _convert_official(args: argparse.Namespace) -> int:
    import pickle

    import torch

    from .convert_official import load_official_state_dict

    checkpoint = Path(args.checkpoint)
    if not checkpoint.is_file():
        raise SystemExit(f"convert-official: CKPT {str(checkpoint)!r} is not a file")
    try:
        state_dict = torch.load(checkpoint, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise SystemExit(
            f"convert-official: refused to unpickle {str(checkpoint)!r}: it holds objects other than tensors and "
            f"plain containers (loaded with weights_only=True): {str(error).splitlines()[0]}"
        ) from error
    if isinstance(state_dict, dict) and "state_dict" in state_dict and isinstance(state_dict["state_dict"], dict):
        state_dict = state_dict["state_dict"]
    try:
        model = load_official_state_dict(state_dict)
    except (TypeError, ValueError) as error:
        raise SystemExit(f"convert-official: {error}") from error
    model.save_pretrained(args.out_dir)
    print(
        f"converted {sum(p.numel() for p in model.parameters()):,} parameters -> {args.out_dir} "
        f"(fusion blocks {model.config.fusion_layers}, fusion_in_decoder={model.config.fusion_in_decoder})"
    )
    return 0


def _add_convert_official_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "convert-official",
        help="convert a checkpoint of the official UniMSE code to a save_pretrained folder",
        description="Convert a torch.save'd state dict of the official UniMSE Model (LeMei/UniMSE) into a "
        "UniMSEForConditionalGeneration folder (safetensors). The checkpoint is loaded with weights_only=True.",
    )
    parser.add_argument("checkpoint", metavar="CKPT", help="torch.save'd state dict of the official Model")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the converted model to")
    parser.set_defaults(handler=_convert_official)


_BUILD_DATASET_EPILOG = """\
sources (--source, --features; repeatable, shape [CORPUS=]PATH):
  CORPUS=PATH   the source of one corpus (mosi|mosei|meld|iemocap), given to its reader in hub_datasets
  PATH          alone: the source of a single-corpus CONFIG, or, for a mixture, a root folder holding one
                sub-folder per member corpus (PATH/mosi, PATH/mosei, ...); CORPUS=PATH entries override it
  A source for a corpus that is not a member of CONFIG only serves as a pseudo-label donor pool (needs
  --pseudo-labels MODEL), e.g. `build-dataset mos --source data --source meld=data/meld --pseudo-labels M`.
  --features also takes CORPUS.MODALITY=PATH (one file per modality, e.g. CMU .csd:
  --features mosi.acoustic=COVAREP.csd --features mosi.visual=FACET.csd). In a mixture, per-frame dims are
  zero-padded to the largest and corpora without features get zero-frame arrays (counted in the report).
  --feature-format [CORPUS=]FORMAT is passed to the readers (default: detected; see hub_datasets/README.md).
  --feature-format CORPUS=raw-media: --features CORPUS=FOLDER is the corpus's raw media (e.g. MELD.Raw with
  dia{D}_utt{U}.mp4): acoustic and visual frames are extracted from each file (the media extra) with the
  settings of --media-extractor (default: UniMSEFeatureExtractor's), cached by file hash and settings in
  --media-cache, so an interrupted build resumes (docs/media.md).

pseudo-labels:
  (none)        single corpora only: its own gold fields, the others empty with origin "missing"; the
                universal label (target) holds placeholders for them (score 0.0, neutral, neutral), never
                read by the metrics; no model, no network
  official      the official UniMSE v4 universal-label CSVs found in the MOSI/MOSEI/MELD source folders
  MODEL         a transformers / sentence-transformers encoder (path or Hub id): top-1 cosine neighbour of
                the same polarity among the training rows of the other corpora (neutral rows: defaults)

examples:
  unimse-hf build-dataset meld --source /data/meld --out unified/
  unimse-hf build-dataset meld --source /data/meld --features meld=/data/MELD.Raw --feature-format meld=raw-media \\
      --out unified/
  unimse-hf build-dataset moseld --source /data --pseudo-labels official --out unified/
  unimse-hf build-dataset moseld --source /data --pseudo-labels princeton-nlp/sup-simcse-bert-base-uncased \\
      --pooling pooler --out unified/ --push-to-hub me/unimse-unified
"""


def _corpus_paths(values: list[str], members: tuple[str, ...], option: str, *, required: bool) -> dict[str, Path]:
    """Parse repeated ``[CORPUS=]PATH`` values (see the build-dataset epilog) into corpus -> path."""
    from .data.schema import CORPORA

    explicit: dict[str, Path] = {}
    bare: list[str] = []
    for value in values:
        corpus, sep, path = value.partition("=")
        if sep and corpus in CORPORA:
            if corpus in explicit:
                raise SystemExit(f"build-dataset: {option} names {corpus!r} twice")
            explicit[corpus] = Path(path)
        else:
            bare.append(value)
    if len(bare) > 1:
        raise SystemExit(f"build-dataset: {option} takes at most one PATH without CORPUS=, got {bare}")
    paths: dict[str, Path] = {}
    if bare:
        root = Path(bare[0])
        if len(members) == 1:
            paths[members[0]] = root
        else:
            for corpus in members:
                if (root / corpus).exists():
                    paths[corpus] = root / corpus
                elif required and corpus not in explicit:
                    raise SystemExit(
                        f"build-dataset: {option} root {str(root)!r} has no {corpus!r} sub-folder; "
                        f"give it as {option} {corpus}=PATH"
                    )
    paths.update(explicit)
    absent = [c for c in members if c not in paths]
    if required and absent:
        raise SystemExit(f"build-dataset: {option} must cover {list(members)}; missing {absent}")
    return paths


def _feature_sources(values: list[str], members: tuple[str, ...]) -> dict[str, Path | dict[str, Path]]:
    """``--features`` values -> corpus -> path, or corpus -> {modality: path} for ``CORPUS.MODALITY=PATH``."""
    from .data.schema import CORPORA, MODALITIES

    per_modality: dict[str, dict[str, Path]] = {}
    rest: list[str] = []
    for value in values:
        key, sep, path = value.partition("=")
        corpus, dot, modality = key.partition(".")
        if sep and dot and corpus in CORPORA:
            if modality not in MODALITIES:
                raise SystemExit(f"build-dataset: --features {value!r}: MODALITY must be one of {MODALITIES}")
            per_modality.setdefault(corpus, {})[modality] = Path(path)
        else:
            rest.append(value)
    paths: dict[str, Path | dict[str, Path]] = dict(_corpus_paths(rest, members, "--features", required=False))
    clash = sorted(set(paths) & set(per_modality))
    if clash:
        raise SystemExit(f"build-dataset: --features gives {clash} both one PATH and per-modality paths")
    paths.update(per_modality)
    return paths


def _feature_formats(values: list[str], members: tuple[str, ...]) -> dict[str, str]:
    """``--feature-format [CORPUS=]FORMAT`` values -> corpus -> format (a bare FORMAT applies to every member)."""
    from .data.schema import CORPORA

    formats: dict[str, str] = {}
    for value in values:
        corpus, sep, name = value.partition("=")
        if sep and corpus in CORPORA:
            formats[corpus] = name
        else:
            formats.update({c: value for c in members if c not in formats})
    return formats


def _score_precision(value: str) -> int | None:
    if value == "full":
        return None
    try:
        precision = int(value)
    except ValueError:
        precision = -1
    if precision < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative int or 'full', got {value!r}")
    return precision


def _media_settings(extractor: Path | None):
    """The ``MediaSettings`` of ``--media-extractor`` (a folder or file of a saved UniMSE feature extractor or
    processor), ``None`` without it."""
    if extractor is None:
        return None
    from .feature_extraction_unimse import UniMSEFeatureExtractor

    if not extractor.exists():
        raise FileNotFoundError(f"--media-extractor: no such file or folder {str(extractor)!r}")
    if extractor.name == "processor_config.json":  # the processor's file nests the extractor: load its folder
        extractor = extractor.parent
    try:
        loaded = UniMSEFeatureExtractor.from_pretrained(str(extractor))
    except (OSError, TypeError, ValueError) as error:
        raise ValueError(
            f"--media-extractor must be a saved UniMSEFeatureExtractor or UniMSEProcessor (its folder or its "
            f"preprocessor_config.json / processor_config.json), got {str(extractor)!r}: {error}"
        ) from error
    return loaded.media_settings()


def _build_dataset(args: argparse.Namespace) -> int:
    from hub_datasets.build import build_dataset  # the application layer: the only unimse_hf module that may

    from .data.mixtures import CONFIGS

    if args.no_progress:
        from datasets import disable_progress_bars

        disable_progress_bars()
    members = CONFIGS[args.config]
    sources = _corpus_paths(args.source, members, "--source", required=True)
    features = _feature_sources(args.features, members)
    try:
        media_settings = _media_settings(args.media_extractor)
        result = build_dataset(
            args.config,
            sources,
            args.out,
            features=features,
            feature_formats=_feature_formats(args.feature_format, members),
            media_settings=media_settings,
            media_cache=args.media_cache,
            pseudo_labels=args.pseudo_labels,
            pooling=args.pooling,
            batch_size=args.batch_size,
            max_length=args.max_length,
            device=args.device,
            seed=args.seed,
            score_precision=args.score_precision,
            max_rows_per_shard=args.max_rows_per_shard,
            push_to_hub=args.push_to_hub,
            private=not args.public,
            show_progress=not args.no_progress,
        )
    except (FileNotFoundError, ValueError, NotImplementedError, ImportError) as error:
        raise SystemExit(f"build-dataset: {error}") from error
    rows = ", ".join(f"{split} {len(ds):,}" for split, ds in result.dataset.items())
    print(f"built {args.config!r} -> {result.folder} ({rows})")
    print(
        f"dropped rows: {result.report.total('dropped'):,}; specially handled rows: {result.report.total('note'):,}"
        f" (table in {result.folder / 'README.md'})"
    )
    if result.report.total("dropped"):
        dropped = [r for r in result.report.to_records() if r["kind"] == "dropped"]
        for rec in dropped:
            print(f"  dropped {rec['count']:,} {rec['corpus']}/{rec['split']} at {rec['step']}: {rec['reason']}")
    if result.url:
        print(f"pushed to {args.push_to_hub}: {result.url}")
    return 0


def _add_build_dataset_parser(subparsers) -> None:
    from .data.embeddings import POOLING_MODES
    from .data.mixtures import CONFIGS

    parser = subparsers.add_parser(
        "build-dataset",
        help="build a corpus or a mixture of the unified dataset into a Hub-ready folder (and push it)",
        description="Read a corpus (or every member of a mixture) into the unified schema, optionally add "
        "pseudo-labels and universal labels, and write parquet shards + a dataset card to OUT. "
        "With --push-to-hub, upload OUT to a (private by default) dataset repo.",
        epilog=_BUILD_DATASET_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "config", metavar="CORPUS", choices=sorted(CONFIGS), help=f"corpus or mixture to build: {' | '.join(CONFIGS)}"
    )
    parser.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="[CORPUS=]PATH",
        help="source of a corpus (repeatable; see below)",
    )
    parser.add_argument("--out", required=True, type=Path, help="Hub folder to write (other configs are kept)")
    parser.add_argument(
        "--features",
        action="append",
        default=[],
        metavar="[CORPUS[.MODALITY]=]PATH",
        help="frame-feature file of a corpus (repeatable; same shape as --source, see below)",
    )
    parser.add_argument(
        "--feature-format",
        action="append",
        default=[],
        metavar="[CORPUS=]FORMAT",
        help="feature file layout given to the reader (default: detected)",
    )
    parser.add_argument(
        "--media-extractor",
        type=Path,
        default=None,
        metavar="PATH",
        help="raw-media corpora: the saved feature extractor (or processor, or model folder) whose settings the "
        "frames are extracted with (default: UniMSEFeatureExtractor's defaults)",
    )
    parser.add_argument(
        "--media-cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="raw-media corpora: the feature cache (default: $UNIMSE_MEDIA_CACHE, else ~/.cache/unimse_hf/"
        "media_features)",
    )
    parser.add_argument(
        "--pseudo-labels",
        metavar="MODEL|official",
        default=None,
        help="fill the fields a corpus lacks: 'official' (v4 CSVs) or an encoder path / Hub id",
    )
    parser.add_argument(
        "--pooling",
        choices=POOLING_MODES,
        default="auto",
        help="sentence pooling of MODEL (auto: sentence-transformers config, else pooler_output, "
        "else mean; the paper used pooler with sup-simcse-bert-base-uncased)",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="texts per encoder forward pass (default 64)")
    parser.add_argument("--max-length", type=int, default=128, help="encoder truncation length (default 128)")
    parser.add_argument("--device", default=None, help="torch device of MODEL (default: cuda if available, else cpu)")
    parser.add_argument("--seed", type=int, default=0, help="seed of a mixture's training-set shuffle (default 0)")
    parser.add_argument(
        "--score-precision",
        type=_score_precision,
        default=1,
        metavar="N|full",
        help="decimals of the score in the universal label (default 1; 'full' = official style)",
    )
    parser.add_argument("--max-rows-per-shard", type=int, default=20_000, help="rows per parquet shard")
    parser.add_argument("--push-to-hub", metavar="REPO", default=None, help="dataset repo id to upload OUT to")
    parser.add_argument(
        "--public",
        action="store_true",
        help="create the repo public (default private; refused for IEMOCAP unless the repo is gated)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    parser.set_defaults(handler=_build_dataset)


_TRAIN_EPILOG = """\
Every field of ModelArguments, DataArguments (unimse_hf.train) and UniMSETrainingArguments can be set in CONFIG
or as --field value after it (the command line wins); an unknown field is an error. Examples:
  unimse-hf train training_args/tiny.yaml --dataset_name unified/ --dataset_config_name meld --output_dir out
  unimse-hf train training_args/paper.yaml --dataset_name unified/ --num_train_epochs 20
  accelerate launch -m unimse_hf train training_args/paper.yaml --dataset_name unified/
  unimse-hf train training_args/tiny.yaml --seeds 1 2 3 --dataset_name unified/ --output_dir out
    (one run per seed in out/seed-<n>/, then out/seeds_summary.json|md and out/README.md: mean ± std)
"""


def _add_seeds_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seeds", nargs="+", type=int, metavar="N", default=None,
                        help="train once per seed into OUTPUT_DIR/seed-<N>/ and summarise (mean ± std) in "
                        "OUTPUT_DIR/seeds_summary.json|md and README.md; not with --seed")  # fmt: skip


def _train(args: argparse.Namespace) -> int:
    from .train import parse_config, run_training

    seeds, overrides = args.seeds, args.overrides
    if any(value == "--seeds" or value.startswith("--seeds=") for value in overrides):
        # after CONFIG, --seeds is among the overrides (argparse.REMAINDER): take it out with the same definition
        seeds_parser = argparse.ArgumentParser(prog="unimse-hf train", add_help=False, allow_abbrev=False)
        _add_seeds_argument(seeds_parser)
        found, overrides = seeds_parser.parse_known_args(overrides)
        if seeds is not None:
            raise SystemExit(f"train: --seeds given twice, got {seeds} and {found.seeds}")
        seeds = found.seeds
    if seeds is None:
        run_training(*parse_config(args.config, overrides))
    else:
        from .seeds import run_seeds

        run_seeds(args.config, overrides, seeds)
    return 0


def _add_train_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train UniMSE on a unified dataset from a YAML config (training_args/)",
        description="Train UniMSE: dev splits select checkpoints, test splits are scored once at the end. The output "
        "folder holds the model (safetensors + remote code), the processor, the model card, trainer_state.json and "
        "train/eval/test/all_results.json.",
        epilog=_TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", metavar="CONFIG", nargs="?", help="YAML file of field: value (training_args/)")
    _add_seeds_argument(parser)
    parser.add_argument("overrides", nargs=argparse.REMAINDER, help="--field value pairs overriding CONFIG")
    parser.set_defaults(handler=_train)


def _evaluate(args: argparse.Namespace) -> int:
    from .train import DataArguments, run_evaluation

    data_args = DataArguments(dataset_name=args.dataset_name, dataset_config_name=args.dataset_config_name,
                              max_eval_samples=args.max_eval_samples)  # fmt: skip
    run_evaluation(args.model, data_args, args.split, args.output_dir, args.batch_size)
    return 0


def _add_evaluate_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="score a trained UniMSE folder per corpus on splits of a unified dataset",
        description="Generate, parse the universal labels and score each corpus on its own field; prints a table "
        "and writes {eval|test}_results.json (and all_results.json) into --output_dir (default: the model folder).",
    )
    parser.add_argument("--model", required=True, help="a folder written by `unimse-hf train` (or save_pretrained)")
    parser.add_argument("--dataset_name", required=True, help="a `build-dataset` folder or a Hub dataset id")
    parser.add_argument("--dataset_config_name", default=None, help="corpus or mixture configuration")
    parser.add_argument("--split", nargs="+", default=["test"], help="split(s) to score together (default: test)")
    parser.add_argument("--output_dir", default=None, help="where the JSON goes (default: --model)")
    parser.add_argument("--batch_size", type=int, default=32, help="evaluation batch size")
    parser.add_argument("--max_eval_samples", type=int, default=None, help="keep the first N rows of each split")
    parser.set_defaults(handler=_evaluate)


def _merge_lora(args: argparse.Namespace) -> int:
    from .lora import merge_lora

    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise SystemExit(f"merge-lora: RUN_DIR must be a LoRA run folder, got {str(run_dir)!r}, which is not a folder")
    try:
        merged = merge_lora(run_dir, args.out_dir)
    except (ImportError, ValueError) as error:
        raise SystemExit(f"merge-lora: {error}") from error
    parameters = sum(parameter.numel() for parameter in merged.parameters())
    print(f"merged the LoRA adapter of {run_dir} into its base model -> {args.out_dir} ({parameters:,} parameters)")
    return 0


def _add_merge_lora_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "merge-lora",
        help="merge the LoRA adapter of a `train` run (use_lora: true) into a plain UniMSE folder",
        description="Load the base model and the LoRA adapter of RUN_DIR (a folder written by `unimse-hf train` "
        "with use_lora: true), fold the adapter into the base weights and save a plain "
        "UniMSEForConditionalGeneration folder (safetensors + remote code) with the processor to OUT_DIR; it loads "
        "with AutoModelForSeq2SeqLM and needs no peft. Needs peft: pip install 'unimse-hf[peft]'.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a LoRA run folder (adapter_config.json, base_model/)")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the merged model to")
    parser.set_defaults(handler=_merge_lora)


def _push(args: argparse.Namespace) -> int:
    from .push import push_model_folder

    try:
        url = push_model_folder(
            args.run_dir, args.repo_id, private=not args.public, token=args.token, commit_message=args.commit_message
        )
    except ValueError as error:
        raise SystemExit(f"push: {error}") from error
    visibility = "public (an existing private repository stays private)" if args.public else "private"
    print(f"pushed {args.run_dir} to {args.repo_id}, {visibility}: {url}")
    return 0


def _add_push_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "push",
        help="upload a trained UniMSE folder or LoRA run folder to a (private by default) Hub model repository",
        description="Check RUN_DIR (a folder written by `unimse-hf train`, UniMSETrainer.save_model or "
        "save_pretrained, or a LoRA run folder: weights, remote code, processor and README.md card), create the model "
        "repository ORG/NAME (private unless --public) and upload RUN_DIR without its training leftovers "
        "(checkpoint-*/, runs/, *.pt, *.pth, training_args.bin).",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the folder to upload")
    parser.add_argument("repo_id", metavar="ORG/NAME", help="Hub model repository id (created if missing)")
    parser.add_argument(
        "--public", action="store_true", help="create the repository public, or push to an existing public one"
    )
    parser.add_argument("--token", default=None, help="Hub token with write access (default: the logged-in one)")
    parser.add_argument("--commit-message", default=None, help="commit message (default: 'unimse-hf push: <kind>')")
    parser.set_defaults(handler=_push)


def _predict(args: argparse.Namespace) -> int:
    for option in ("chunk_size", "batch_size", "num_beams", "max_new_tokens"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise SystemExit(f"predict: --{option.replace('_', '-')} must be an int >= 1, got {value}")
    model = Path(args.model)
    if not model.is_dir():
        raise SystemExit(
            f"predict: --model must be a UniMSE model folder or a LoRA run folder, got {args.model!r}, which is not "
            "a folder"
        )
    source = None if args.input == "-" else Path(args.input)
    if source is not None and not source.is_file():
        raise SystemExit(
            f"predict: --input must be a JSON-lines file or - (stdin), got {args.input!r}, which is not a file"
        )
    if args.output != "-":
        output = Path(args.output)
        if output.is_dir():
            raise SystemExit(f"predict: --output must be a file path or - (stdout), got {args.output!r}, a folder")
        if not output.parent.is_dir():
            raise SystemExit(f"predict: --output {args.output!r}: its folder {str(output.parent)!r} does not exist")
        if source is not None and output.exists() and output.samefile(source):
            raise SystemExit(f"predict: --output {args.output!r} is the --input file; give another output path")

    import torch
    from transformers import pipeline
    from transformers.utils.logging import disable_progress_bar

    from .hardware import native_bf16
    from .pipeline_unimse import TASK
    from .predict import EXIT_LINE_ERRORS, predict_jsonl

    if args.quiet:
        disable_progress_bar()  # the weight-loading bar
    dtype = getattr(torch, args.dtype)
    try:
        loaded = pipeline(TASK, model=str(model), device=args.device, dtype=dtype)
    except (ImportError, OSError, TypeError, ValueError) as error:  # ImportError: a LoRA run folder without peft
        raise SystemExit(f"predict: --model {args.model!r} could not be loaded: {error}") from error
    if dtype == torch.bfloat16 and not native_bf16(loaded.device):
        raise SystemExit(
            f"predict: --dtype bfloat16 needs a device that computes bf16 natively (a CPU with AVX512-BF16 or AMX, or "
            f"a GPU with bf16); {loaded.device} does not (emulated bf16 is slower than float32): use --dtype float32"
        )
    options = {"num_beams": args.num_beams, "max_new_tokens": args.max_new_tokens}
    options = {key: value for key, value in options.items() if value is not None}
    try:
        pipe = pipeline(
            TASK,
            model=loaded.model,
            processor=loaded.processor,
            device=loaded.device,
            batch_size=args.batch_size,
            context_mode=args.context_mode,
            return_probabilities=args.return_probabilities,
            **options,
        )
    except ValueError as error:  # context_mode="bidirectional" for a model trained with past-only contexts
        raise SystemExit(f"predict: --context-mode {args.context_mode}: {error}") from error
    try:
        show_progress = not args.quiet and sys.stderr.isatty()
        summary = predict_jsonl(pipe, args.input, args.output, chunk_size=args.chunk_size, show_progress=show_progress)
    except OSError as error:  # the lines' own errors are in the output: this is reading or writing the files
        raise SystemExit(f"predict: reading --input or writing --output failed: {error}") from error
    print(f"predict: {summary}", file=sys.stderr)
    return EXIT_LINE_ERRORS if summary.errors else 0


def _add_predict_parser(subparsers) -> None:
    epilog = """\
input lines (JSON; "id" optional, a str or an int, copied to the output; default: the line number):
  {"id": "u1", "text": "I love it", "speaker": "Joey", "context_before": ["hi"], "acoustic": "feats/u1_a.npy"}
  {"dialogue": [{"text": "hi", "speaker": "A", "visual": "v0.npy"}, {"text": "so sad", "speaker": "B"}]}
  acoustic/visual: a .npy file of (frames, dim) features (relative paths: against the input file's folder, or
  the working directory for stdin), an inline list of frames ([[0.1, ...], ...]), or null

output lines (one per non-blank input line, in input order; blank lines are skipped):
  {"id": "u1", "line": 1, "prediction": {"polarity": ..., "score": ..., "emotion": ..., "iemocap_emotion": ...,
   "generated": ..., "valid": ...}}                  a dialogue: "prediction" is a list, one per utterance
  {"id": 2, "line": 2, "error": "line 2['acoustic']: feature file 'x.npy' not found ..."}

exit status: 0 every line predicted; 3 the output is complete but some lines hold an "error" (listed on stderr);
1 a bad argument, a model that does not load or --input/--output that cannot be read/written; 2 a usage error

examples:
  unimse-hf predict --model run/ --input utterances.jsonl --output predictions.jsonl
  cat dialogues.jsonl | unimse-hf predict --model run/ --input - --output - --context-mode past > out.jsonl
"""
    parser = subparsers.add_parser(
        "predict",
        help="predict sentiment and emotions for every line of a JSON-lines file (utterances or dialogues)",
        description="Run the multimodal-sentiment pipeline of --model over --input, streaming: the input is read "
        "--chunk-size lines at a time, and each chunk's predictions are written (and flushed) to --output before the "
        "next is read. A line that cannot be predicted (bad JSON, a missing or malformed .npy file, an empty text, "
        "...) gets an error line in its place; the others are predicted. A summary goes to stderr.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", required=True, help="a UniMSE model folder (train, save_pretrained) or LoRA run folder"
    )
    parser.add_argument("--input", required=True, help="JSON-lines file to predict (- for stdin)")
    parser.add_argument("--output", required=True, help="JSON-lines file to write, overwritten (- for stdout)")
    parser.add_argument(
        "--chunk-size", type=int, default=256, help="input lines read and written at a time (default 256)"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="utterances per generate call (default 8)")
    parser.add_argument(
        "--context-mode",
        choices=("bidirectional", "past"),
        default=None,
        help="dialogue context: both sides or earlier turns only (default: the processor's)",
    )
    parser.add_argument("--num-beams", type=int, default=None, help="beam search width (default: the model's)")
    parser.add_argument(
        "--max-new-tokens", type=int, default=None, help="generation length limit (default: the model's)"
    )
    parser.add_argument(
        "--return-probabilities",
        action="store_true",
        help="add per-field probabilities of the generated label to each prediction",
    )
    parser.add_argument("--device", default=None, help="torch device (default: the first GPU if any, else cpu)")
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="weights' dtype: bfloat16 generates about twice as fast where the device computes it natively (a CPU "
        "with AVX512-BF16 or AMX, a GPU; docs/performance.md), with the float32 labels up to rare near-ties "
        "(default float32)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bars (the one over lines is off anyway when stderr is not a terminal); the summary is still "
        "printed",
    )
    parser.set_defaults(handler=_predict)


def _app(args: argparse.Namespace) -> int:
    from .app import build_app, check_address, launch, resolve_model

    try:
        check_address(args.host, args.port)
        model, smoke_model = resolve_model(args.model)
    except (FileNotFoundError, ValueError) as error:
        raise SystemExit(f"app: {error}") from error
    try:
        app = build_app(model, smoke_model=smoke_model)
    except ImportError as error:  # gradio missing, or a LoRA run folder without peft
        raise SystemExit(f"app: {error}") from error
    except (OSError, TypeError, ValueError) as error:
        raise SystemExit(f"app: --model {model!r} could not be loaded: {error}") from error
    if smoke_model:
        print(f"app: serving {model}, the small smoke model of `make demo` (not the paper's model)", file=sys.stderr)
    launch(app, host=args.host, port=args.port, share=args.share)
    return 0


def _add_app_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "app",
        help="serve a web demo (Gradio) of the multimodal-sentiment pipeline: utterances and dialogues",
        description="Start a Gradio web app on --model: an Utterance tab (text, optional speaker, context and .npy "
        "acoustic/visual features -> polarity, score, MELD and IEMOCAP emotions) and a Dialogue tab (one prediction "
        "per turn, plotted over the turns), plus the API endpoints /predict and /predict_dialogue for gradio_client "
        "(docs/app.md). Needs gradio: pip install 'unimse-hf[app]'. Also: python -m unimse_hf.app.",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="a UniMSE model folder, LoRA run folder or Hub id (default: $UNIMSE_APP_MODEL, else demo-output/model, "
        "the small smoke model `make demo` saves)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0: all)")
    parser.add_argument(
        "--port", type=int, default=None, help="port, 1 to 65535 (default: the first free one from 7860)"
    )
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs network)")
    parser.set_defaults(handler=_app)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unimse-hf", description="UniMSE for the Hugging Face ecosystem")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_convert_official_parser(subparsers)
    _add_build_dataset_parser(subparsers)
    _add_train_parser(subparsers)
    _add_evaluate_parser(subparsers)
    _add_merge_lora_parser(subparsers)
    _add_push_parser(subparsers)
    _add_predict_parser(subparsers)
    _add_app_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
