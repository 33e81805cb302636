"""Upload a saved UniMSE folder to a model repository on the Hub, private by default (``unimse-hf push``).

Two kinds of folders go up: a UniMSE model folder (``save_pretrained``, ``UniMSETrainer.save_model``,
``unimse-hf train``) and a LoRA run folder (:mod:`.lora`). The folder is checked before any network call: the
configuration, the weights, the remote code its ``auto_map`` names, the processor and the ``README.md`` card must be
there. A missing card is an error rather than generated here: it carries the training set-up, the results and the
corpora's licence terms, which only the trainer knows.

Training leftovers stay local (:data:`HUB_IGNORE_PATTERNS`); the weights, remote code, processor and tokenizer files,
configuration, card, results JSON files and the evaluation plots (PNG) go up.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from huggingface_hub import HfApi
from huggingface_hub.utils import HFValidationError, validate_repo_id

from .lora import ADAPTER_CONFIG, BASE_MODEL_DIR

#: paths (relative to the folder; ``*`` also matches ``/``) left out of the upload
HUB_IGNORE_PATTERNS: tuple[str, ...] = (
    "checkpoint-*",  # Trainer checkpoints: full model copies plus optimizer state
    "runs/*",  # TensorBoard event files
    "*.pt",  # optimizer, scheduler and grad-scaler states (torch pickles)
    "*.pth",  # RNG states
    "training_args.bin",  # the pickled training arguments: unpickling runs code; the card lists the hyper-parameters
    "*/training_args.bin",
    "*.pyc",  # compiled remote code
)
MODEL_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PROCESSOR_FILES = ("processor_config.json", "tokenizer_config.json")
TOKENIZER_MODELS = ("tokenizer.json", "spiece.model")
CARD = "README.md"


def push_model_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = True,
    token: str | None = None,
    commit_message: str | None = None,
    revision: str | None = None,
    api: HfApi | None = None,
) -> str:
    """Check ``folder``, create (if needed) the model repository ``repo_id`` and upload the folder to it.

    Args:
        folder: a UniMSE model folder or a LoRA run folder.
        repo_id: ``"namespace/name"`` of the model repository.
        private: create the repository private (the default). An existing public repository is refused unless
            ``private=False``; an existing private one stays private.
        token: Hub token (default: the logged-in one).
        commit_message: commit message (default names the kind of folder).
        revision: branch to commit to, created from the default branch if missing (default: the default branch).
        api: the ``HfApi`` to use (tests pass a mock).

    Returns:
        The URL of the commit.

    Raises:
        ValueError: a malformed ``repo_id``, a folder that is not a complete UniMSE model or LoRA run folder, or
            ``private=True`` with an existing public repository; all but the last before any network call.
    """
    check_repo_id(repo_id)
    folder = Path(folder)
    kind = check_model_folder(folder)
    api = api if api is not None else HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    if private and not api.repo_info(repo_id, repo_type="model").private:
        raise ValueError(
            f"repo_id {repo_id!r} is an existing public repository and private=True; push with private=False "
            "(unimse-hf push --public) to publish the folder there, or choose another repository"
        )
    if revision is not None:
        api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type="model",
        revision=revision,
        commit_message=commit_message or f"unimse-hf push: {kind}",
        ignore_patterns=list(HUB_IGNORE_PATTERNS),
    )
    return str(getattr(commit, "commit_url", commit))


def check_repo_id(repo_id: Any) -> None:
    """Raise ``ValueError`` unless ``repo_id`` is a valid ``"namespace/name"`` Hub repository id."""
    expected = 'repo_id must be a Hub repository id "namespace/name" (a user or organisation, then the model name)'
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"{expected}, got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"{expected}, got {repo_id!r}: {error}") from error


def check_model_folder(folder: Path) -> str:
    """Check that ``folder`` holds what the Hub repository needs; returns ``"UniMSE model"`` or ``"LoRA adapter"``
    for a LoRA run folder (:mod:`.lora`). Raises ``ValueError`` naming what is missing."""
    if not folder.is_dir():
        state = "is a file" if folder.exists() else "does not exist"
        raise ValueError(f"folder must be a saved UniMSE model or LoRA run folder, got {str(folder)!r}, which {state}")
    files = sorted(path.name for path in folder.iterdir())
    if (folder / ADAPTER_CONFIG).is_file():
        kind = "LoRA adapter"
        _require(folder, (ADAPTER_WEIGHTS,), kind, "the adapter weights")
        _check_base_model(folder)
    elif (folder / "config.json").is_file():
        kind = "UniMSE model"
        model_type = _read_json(folder / "config.json").get("model_type")
        if model_type != "unimse":
            raise ValueError(
                f"folder {str(folder)!r} must hold a UniMSE model: its config.json has model_type {model_type!r}, "
                "expected 'unimse'"
            )
        if not any((folder / name).is_file() for name in MODEL_WEIGHTS):
            raise ValueError(
                f"folder {str(folder)!r} holds no weights: expected {' or '.join(MODEL_WEIGHTS)}, found {files}"
            )
        _check_shards(folder)
        _check_remote_code(folder, "config.json")
    else:
        hint = " (a `train --seeds` folder: push one of its seed-<n>/ folders)" if "seeds_summary.json" in files else ""
        raise ValueError(
            f"folder {str(folder)!r} holds no config.json with model_type 'unimse' and no {ADAPTER_CONFIG}, so it is "
            f"neither a UniMSE model folder nor a LoRA run folder{hint}; it holds {files[:12]}"
        )
    _require(folder, PROCESSOR_FILES, kind, "the processor (save it with processor.save_pretrained(folder))")
    if not any((folder / name).is_file() for name in TOKENIZER_MODELS):
        raise ValueError(
            f"folder {str(folder)!r} holds no tokenizer: expected {' or '.join(TOKENIZER_MODELS)}, found {files}"
        )
    _check_remote_code(folder, "processor_config.json")
    if not (folder / CARD).is_file():
        raise ValueError(
            f"folder {str(folder)!r} holds no {CARD} model card: UniMSETrainer.save_model writes one; for a folder "
            "saved otherwise, write one first, e.g. unimse_hf.model_card.generate_model_card("
            "UniMSEModelCardData(...)).save(folder / 'README.md')"
        )
    return kind


def _require(folder: Path, names: tuple[str, ...], kind: str, what: str) -> None:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        found = sorted(path.name for path in folder.iterdir())
        raise ValueError(f"{kind} folder {str(folder)!r} lacks {missing}, {what}; found {found}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{str(path)!r} must be a JSON object, but it does not parse: {error}") from error
    if not isinstance(value, dict):
        raise ValueError(f"{str(path)!r} must be a JSON object, got a {type(value).__name__}")
    return value


def _check_shards(folder: Path) -> None:
    """Every shard that ``model.safetensors.index.json`` names must be in the folder."""
    index = folder / "model.safetensors.index.json"
    if not index.is_file():
        return
    shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
    missing = [shard for shard in shards if not (folder / shard).is_file()]
    if missing or not shards:
        raise ValueError(
            f"{str(index)!r} must name weight shards that the folder holds; it names {shards}, missing {missing}"
        )


def _check_remote_code(folder: Path, config_name: str) -> None:
    """Raise ``ValueError`` unless ``folder`` holds the ``<module>.py`` files that the ``auto_map`` entries of
    ``folder/config_name`` (at any depth) name; references to other repositories (``repo--module.Class``) are
    skipped."""
    modules: set[str] = set()
    pending: list[Any] = [_read_json(folder / config_name)]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "auto_map" and isinstance(item, dict):
                    references = [r for entry in item.values() for r in (entry if isinstance(entry, list) else [entry])]
                    modules |= {r.rsplit(".", 1)[0] for r in references if isinstance(r, str) and "--" not in r}
                else:
                    pending.append(item)
        elif isinstance(value, list):
            pending.extend(value)
    missing = sorted(f"{module}.py" for module in modules if not (folder / f"{module}.py").is_file())
    if missing:
        raise ValueError(
            f"folder {str(folder)!r}: the auto_map of {config_name} names the remote code {missing}, which the folder "
            "lacks (save_pretrained copies it when unimse_hf is imported)"
        )


def _check_base_model(folder: Path) -> None:
    """A LoRA run folder must describe its base in ``base_model/`` and hold its weights or name a Hub checkpoint."""
    base_dir = folder / BASE_MODEL_DIR
    if not (base_dir / "config.json").is_file():
        raise ValueError(
            f"LoRA folder {str(folder)!r} lacks {BASE_MODEL_DIR}/config.json, the UniMSE configuration of the base "
            "model that UniMSETrainer.save_model writes next to the adapter"
        )
    if any(base_dir.glob("*.safetensors")):
        return
    name = _read_json(folder / ADAPTER_CONFIG).get("base_model_name_or_path")
    if not name:
        raise ValueError(
            f"LoRA folder {str(folder)!r}: {ADAPTER_CONFIG} names no base_model_name_or_path and {BASE_MODEL_DIR}/ "
            "holds no weights, so the base model could not be rebuilt from the Hub"
        )
    if os.path.isabs(name) or Path(name).exists():
        raise ValueError(
            f"LoRA folder {str(folder)!r}: the adapter's base model is the local path {name!r}, which others cannot "
            "load from the Hub; push the base model and set base_model_name_or_path to its Hub id, or merge the "
            "adapter (unimse-hf merge-lora) and push the merged folder"
        )
