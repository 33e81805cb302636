"""Every python and bash block of README.md runs, in order, as a user would run it.

The blocks run one by one in an empty folder where the repository's ``tests/fixtures``, ``training_args`` and
``demo`` are visible (each python block in a fresh interpreter: a block must be complete by itself). A block right
after an ``<!-- not run: REASON -->`` line is left out, and the reason is shown in the test output.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"(?:<!-- not run: (?P<reason>[^>]*?) -->\n)?```(?P<language>python|bash)\n(?P<code>.*?)```", re.S)
VISIBLE = ("tests/fixtures", "training_args", "demo")


def readme_blocks() -> list[tuple[str, str, str | None]]:
    """(language, code, reason not run or None) of each python/bash block, in README order."""
    text = README.read_text(encoding="utf-8")
    return [(m["language"], m["code"], m["reason"]) for m in BLOCK.finditer(text)]


def test_the_readme_has_blocks_to_run_and_says_why_it_skips_others():
    blocks = readme_blocks()
    assert sum(reason is None for _, _, reason in blocks) >= 6
    for language, code, reason in blocks:
        if reason is not None:
            assert reason.strip(), f"a {language} block is marked 'not run' without a reason:\n{code}"


def test_the_readme_blocks_run_in_order(tmp_path, capsys):
    for path in VISIBLE:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).symlink_to(ROOT / path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # fmt: skip
    skipped = []
    for index, (language, code, reason) in enumerate(readme_blocks()):
        if reason is not None:
            skipped.append(f"block {index} ({language}): {reason}")
            continue
        command = [sys.executable, "-c", code] if language == "python" else ["bash", "-euo", "pipefail", "-c", code]
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"README block {index} ({language}) failed:\n{code}\n{result.stderr[-4000:]}"
    with capsys.disabled():
        print("\nREADME blocks not run: " + "; ".join(skipped))
