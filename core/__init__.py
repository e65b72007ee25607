"""dropsynth: synthetic training data for robot vision (PyBullet physics, pyrender, COCO)."""
__version__ = "0.1.0"
