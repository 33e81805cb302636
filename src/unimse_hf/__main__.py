"""``python -m unimse_hf ...`` (e.g. ``accelerate launch -m unimse_hf train CONFIG.yaml``): the ``unimse-hf`` CLI."""

import sys

from .cli import main

sys.exit(main())
