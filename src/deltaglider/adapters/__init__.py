"""Adapters: the ports implemented over real things (S3, the filesystem, xdelta3, ...)."""
