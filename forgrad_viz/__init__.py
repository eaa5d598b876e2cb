"""forgrad_viz: FORGrad (low-pass filtered white-box attribution maps) for PyTorch."""

__version__ = "0.1.0"
