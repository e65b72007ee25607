"""dropsynth's tests: one package per folder (unit, physics, render, cli, consumers), so that
modules of the same name in two folders (conftest.py) never collide, whatever folders a run is given."""
