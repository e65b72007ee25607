#!/usr/bin/env bash
# Regenerate the README's preview grids (docs/preview_*.jpg, docs/preset_*.jpg)
# with `dropsynth generate` and `dropsynth preview`. Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
shot() {  # name, then generate arguments
    local name=$1; shift
    .venv/bin/dropsynth generate --out "$TMP/$name" --scenes 3 --views-per-scene 2 --seed 7 --workers 1 \
        --no-progress --set output.preview=false "$@" > /dev/null
    .venv/bin/dropsynth preview "$TMP/$name" --frames 6 --out "$TMP/$name.png" > /dev/null
    .venv/bin/python -c "
from PIL import Image
im = Image.open('$TMP/$name.png').convert('RGB')
im.thumbnail((960, 960))
im.save('docs/$name.jpg', quality=80, optimize=True)"
    echo "docs/$name.jpg"
}
shot preview_tabletop
shot preview_stack --set scene.builder=stack --set "scene.num_objects=[12, 16]" \
    --set "scene.categories=[box, jenga_block, lego_brick, cylinder, mug, duck]" \
    --set "camera.elevation_deg=[25, 50]" --set "camera.distance_m=[0.6, 0.9]"
shot preview_clutter --set scene.builder=clutter --set "scene.num_objects=[30, 40]" \
    --set "scene.spawn_height_m=[0.02, 0.15]"
shot preview_shelf --set scene.builder=clutter --set scene.clutter_surface=shelf \
    --set "scene.num_objects=[14, 18]" --set "camera.azimuth_deg=[-120, -60]" \
    --set "camera.elevation_deg=[10, 35]" --set "camera.distance_m=[0.7, 1.0]"
shot preview_materials --set scene.builder=bin --set "scene.num_objects=[12, 16]" \
    --set "materials.randomize=[objects, table, fixtures]" --set materials.keep_asset_textures=false \
    --set "background.kinds=[noise, stripes, checker]" --set "camera.elevation_deg=[30, 60]" \
    --set "camera.distance_m=[0.55, 0.75]"
# Example configs with no builder or preset preview of their own (configs/).
shot config_digital_twin_bin --config configs/digital_twin_bin.yaml --width 640 --height 480 --scenes 6 --views-per-scene 1
shot config_domain_randomization --config configs/domain_randomization.yaml
for p in occlusion tiny truncation thin crowd; do
    shot "preset_$p" --preset "$p"
done
