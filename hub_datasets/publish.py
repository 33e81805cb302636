"""Upload a Hub folder (see :mod:`.hub_folder`) to a dataset repository, private by default.

IEMOCAP's licence forbids redistribution, so a folder holding IEMOCAP rows only goes to a private repository
or to an existing gated one; anything else is refused before any upload.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import HfApi

from .hub_folder import folder_corpora

RESTRICTED_CORPORA: tuple[str, ...] = ("iemocap",)


def push_hub_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = True,
    token: str | None = None,
    commit_message: str | None = None,
    api: HfApi | None = None,
) -> str:
    """Create (if needed) the dataset repository ``repo_id`` and upload ``folder`` to it.

    Args:
        folder: a Hub folder written by :func:`~.hub_folder.write_config`.
        repo_id: ``"user/name"`` of the dataset repository.
        private: create the repository private (the default). With ``private=False`` and IEMOCAP in the
            folder, the repository must already exist and be gated.
        token: Hub token (default: the logged-in one).
        commit_message: commit message (default names the configs).
        api: the ``HfApi`` to use (tests pass a mock).

    Returns:
        The URL of the commit.

    Raises:
        ValueError: IEMOCAP rows would be published to a repository that is neither private nor gated.
    """
    folder = Path(folder)
    restricted = sorted(folder_corpora(folder) & set(RESTRICTED_CORPORA))
    api = api if api is not None else HfApi(token=token)
    if restricted and not private:
        info = api.repo_info(repo_id, repo_type="dataset")
        if not info.gated:
            raise ValueError(
                f"refusing to push {restricted} rows to {repo_id!r} with private=False: the repository must be "
                "private or already gated (the IEMOCAP licence forbids public redistribution)"
            )
    else:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        if restricted:
            info = api.repo_info(repo_id, repo_type="dataset")
            if not (info.private or info.gated):
                raise ValueError(
                    f"refusing to push {restricted} rows to {repo_id!r}: the existing repository is public and "
                    "not gated (the IEMOCAP licence forbids public redistribution)"
                )
    configs = sorted(p.parent.name for p in folder.glob("*/*.parquet"))
    commit = api.upload_folder(
        repo_id=repo_id,
        folder_path=folder,
        repo_type="dataset",
        commit_message=commit_message or f"unimse-hf build-dataset: {', '.join(sorted(set(configs)))}",
    )
    return str(getattr(commit, "commit_url", commit))
