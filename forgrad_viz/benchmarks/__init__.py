"""Benchmarks run by ``forgrad-viz bench``: each module times our code against a baseline in the same process."""
