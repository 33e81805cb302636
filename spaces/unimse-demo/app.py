"""The UniMSE web demo as a Hugging Face Space: the app of ``unimse-hf app`` (``unimse_hf.app.build_app``) on a model
from the Hub.

The model is the Space variable ``UNIMSE_APP_MODEL`` (Settings -> Variables and secrets: a Hub id such as
``your-org/unimse-meld-tiny``), else ``DEFAULT_MODEL``; a private model also needs the secret ``HF_TOKEN``. How to
create the Space: docs/app.md.
"""

import os

from unimse_hf.app import MODEL_ENV, build_app, launch

#: The model served when the Space sets no ``UNIMSE_APP_MODEL``: replace it with the id you pushed with
#: ``unimse-hf push RUN_DIR ORG/NAME`` (no public UniMSE model is named here: there is none yet).
DEFAULT_MODEL = "your-org/unimse-meld-tiny"

demo = build_app(os.environ.get(MODEL_ENV) or DEFAULT_MODEL)

if __name__ == "__main__":
    launch(demo, host="0.0.0.0", port=7860)  # what a Space's proxy forwards to
