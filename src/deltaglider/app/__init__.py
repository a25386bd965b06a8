"""The ways in: the command line, and the wiring that builds a service for it."""
