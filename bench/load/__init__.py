"""The load and fault tier: ``python -m bench.load`` (``make load``); see bench/load/__main__.py."""
