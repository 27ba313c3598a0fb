"""The performance benchmark of issue 6: ``python -m bench.run`` (see ``bench/README.md``)."""
