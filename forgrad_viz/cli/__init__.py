"""The ``forgrad-viz`` command: ``demo``, ``sweep``, ``merge`` and ``bench``.

``forgrad-viz demo`` runs offline on the shipped demo models and the procedural shapes set and writes figures and
results; ``forgrad-viz sweep`` sweeps cutoffs for a pretrained, demo or torchvision model over a folder of images
(streamed, resumable, shardable with ``--shard i/n``, and run by several processes under ``torchrun -m
forgrad_viz``); ``forgrad-viz merge`` combines shard results; ``forgrad-viz bench`` times the
filter, the metrics or a sweep against baselines in the same process.

Errors the user can fix (a missing folder, no images, an unknown model or method, weights that do not fit the
model, random weights not asked for, an output folder that cannot be written) print one line, ``forgrad-viz: error: ...``, on stderr and exit with status 1, without a traceback.
Heavy modules (torch, matplotlib) are imported inside the subcommands so that ``--help`` stays fast.

Modules
-------
``entry``
    :func:`build_parser` (the parser with its subcommands) and :func:`main`, the entry point.
``demo``, ``sweep``, ``merge``, ``bench``
    One subcommand each: its options (``add_parser``) and what it runs (``run``).
``options``
    What the subcommands share on the command line: ``CliError``, argument types and checks, output options
    (the output folder is created and checked for writability before any work).
``images``
    A folder of images, flat or one subfolder per class, through a ``DataLoader`` (:data:`IMAGE_SUFFIXES`).
``models``
    ``--model``/``--weights``/``--random-weights``: the model and where its weights came from.
``outputs``
    Writing a sweep's results, the held-out gain first: the printed table, CSVs, Markdown, JSON and figures,
    named ``<model>_<method>``.
``overwrite``
    ``--overwrite``: a sweep's settings (``params["signature"]``) and the check that no output of other
    settings is replaced without it.
``__main__``
    ``python -m forgrad_viz.cli``; ``python -m forgrad_viz`` (and ``torchrun -m forgrad_viz``) runs it too.
"""

from forgrad_viz.cli.entry import build_parser, main
from forgrad_viz.cli.images import IMAGE_SUFFIXES

# also reachable here, as before the split (``as`` marks a re-export)
from forgrad_viz.cli.merge import merge_sweeps as merge_sweeps
from forgrad_viz.cli.options import CliError as CliError
from forgrad_viz.cli.outputs import sweep_csv as sweep_csv
from forgrad_viz.cli.sweep import shard_rows as shard_rows

__all__ = ["IMAGE_SUFFIXES", "build_parser", "main"]
