"""``python -m forgrad_viz.cli``: the ``forgrad-viz`` command."""

import sys

from forgrad_viz.cli import main

sys.exit(main())
