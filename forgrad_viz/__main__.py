"""``python -m forgrad_viz`` (and ``torchrun -m forgrad_viz``): the ``forgrad-viz`` command."""

import sys

from forgrad_viz.cli import main

sys.exit(main())
