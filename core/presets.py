"""Edge-case presets: named sets of config keys applied before the run's own
keys (``preset: tiny`` in the YAML file, or ``--preset tiny``). Any key a
user sets wins over the preset's value."""
from __future__ import annotations

PRESETS: dict[str, dict] = {
    # Heavy occlusion: dense piles in a bin, seen from the side; amodal
    # masks on, so that every annotation carries its visible fraction.
    "occlusion": {
        "scene": {"builder": "bin", "num_objects": [20, 28], "spawn_height_m": [0.05, 0.6]},
        "camera": {"elevation_deg": [35, 65], "distance_m": [0.55, 0.8]},
        "output": {"amodal": True, "min_visible_fraction": 0.05},
    },
    # Tiny objects: far cameras (a few pixels per object).
    "tiny": {
        "scene": {"num_objects": [12, 20]},
        "camera": {"distance_m": [2.2, 3.2], "elevation_deg": [40, 85], "look_at_jitter_m": 0.1},
        "output": {"min_visible_px": 4},
    },
    # Truncation: close cameras aimed off the pile's centre, so that objects
    # are cut by the image border.
    "truncation": {
        "scene": {"num_objects": [12, 18], "spawn_area_m": [0.7, 0.5]},
        "camera": {"distance_m": [0.3, 0.45], "look_at_jitter_m": 0.2, "elevation_deg": [45, 85]},
    },
    # Thin and flat objects: cards, plates, rods (the built-in thin pack) and jenga blocks.
    "thin": {
        "assets": {"packs": ["builtin:thin"]},
        "scene": {"categories": ["card", "thin_plate", "thin_rod", "jenga_block"], "num_objects": [8, 14]},
        "camera": {"distance_m": [0.5, 0.9]},
        # A rod rolling about its long axis at 0.3 rad/s moves its surface by
        # about 1 mm/s: at rest for the camera, where the default would wait.
        "physics": {"ang_vel_tol_rad_s": 0.3},
    },
    # One-class crowds: many instances of one category per scene, packed tight.
    "crowd": {
        "scene": {"single_category": True, "num_objects": [20, 30], "spawn_area_m": [0.4, 0.3],
                  "spawn_height_m": [0.05, 0.5]},
        "camera": {"distance_m": [0.6, 0.9]},
    },
}

DOCS = {
    "occlusion": "heavy occlusion: dense bin piles (20-28 objects) seen from 35-65 deg, amodal on (visib_fract "
                 "in every annotation), objects under 5% visible left out",
    "tiny": "tiny objects: cameras 2.2-3.2 m away, objects of a few pixels (min_visible_px 4)",
    "truncation": "objects cut by the image border: cameras 0.3-0.45 m away aimed up to 0.2 m off centre",
    "thin": "thin and flat objects: cards, plates and rods (builtin:thin) and jenga blocks",
    "crowd": "one-class crowds: 20-30 objects of a single category per scene, packed tight",
}
