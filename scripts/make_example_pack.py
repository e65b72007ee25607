#!/usr/bin/env python3
"""Regenerate assets/example_pack/: a small asset pack in every supported
format, made procedurally so that it carries no third-party licence.

- can:     OBJ + MTL + PNG texture (cylindrical UVs), metres
- bowl:    GLB with vertex colours, concave (needs a convex decomposition), metres
- bracket: STL, an L-shaped bracket modelled in millimetres (unit: mm)
- nut:     PLY with vertex colours, a hex nut with a hole (concave), centimetres
- block:   URDF (box collision, mesh visual, mass and friction from the URDF)

The files are committed; run this only to change them:
    .venv/bin/python scripts/make_example_pack.py
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import trimesh
from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "assets" / "example_pack"


def can(out: Path) -> None:
    r, h, n = 0.033, 0.12, 48
    ang = np.linspace(0, 2 * np.pi, n + 1)  # duplicated seam column for the UVs
    verts, uv, faces = [], [], []
    for z, v in ((-h / 2, 0.0), (h / 2, 1.0)):
        for i, a in enumerate(ang):
            verts.append((r * math.cos(a), r * math.sin(a), z))
            uv.append((i / n, v))
    m = n + 1
    for i in range(n):
        a, b, c, d = i, i + 1, m + i + 1, m + i
        faces += [(a, b, c), (a, c, d)]
    for z, v0 in ((-h / 2, 0), (h / 2, m)):  # caps: centre vertex + fan
        centre = len(verts)
        verts.append((0.0, 0.0, z))
        uv.append((0.5, 0.02 if z < 0 else 0.98))
        for i in range(n):
            f = (centre, v0 + i + 1, v0 + i) if z < 0 else (centre, v0 + i, v0 + i + 1)
            faces.append(f)
    tex = Image.new("RGB", (256, 128), (200, 30, 40))
    draw = ImageDraw.Draw(tex)
    draw.rectangle([0, 44, 255, 84], fill=(245, 245, 235))
    for x in range(0, 256, 32):
        draw.ellipse([x + 8, 52, x + 24, 76], fill=(30, 60, 160))
    material = trimesh.visual.material.SimpleMaterial(image=tex, name="can")
    mesh = trimesh.Trimesh(np.array(verts), np.array(faces), process=False,
                           visual=trimesh.visual.TextureVisuals(uv=np.array(uv), material=material))
    text, files = trimesh.exchange.obj.export_obj(mesh, include_texture=True, mtl_name="can.mtl",
                                                  return_texture=True)
    (out / "can.obj").write_text(text)
    for name, data in files.items():
        (out / name).write_bytes(data)


def bowl(out: Path) -> None:
    # Profile (radius, height) revolved about z: outer wall up, rim, inner wall down.
    r_out, r_in, height, floor = 0.07, 0.064, 0.05, 0.006
    prof = [(0.0, 0.0), (0.045, 0.0), (r_out, height), (r_in, height), (0.04, floor), (0.0, floor)]
    mesh = trimesh.creation.revolve(np.array(prof), sections=48)
    if mesh.volume < 0:
        mesh.invert()
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.tile([60, 140, 200, 255],
                                                                        (len(mesh.vertices), 1)))
    mesh.export(out / "bowl.glb")


def bracket(out: Path) -> None:
    # L-shaped profile in the x-z plane (millimetres), extruded 30 mm along y.
    prof = [(0, 0), (60, 0), (60, 5), (5, 5), (5, 40), (0, 40)]
    n = len(prof)
    verts = [(x, 0.0, z) for x, z in prof] + [(x, 30.0, z) for x, z in prof]
    faces = []
    for i in range(n):
        j = (i + 1) % n
        faces += [(i, j, n + j), (i, n + j, n + i)]
    for a, b, c in ((0, 1, 2), (0, 2, 3), (0, 3, 4), (0, 4, 5)):  # the L split into a fan from corner 0
        faces += [(a, c, b), (n + a, n + b, n + c)]
    mesh = trimesh.Trimesh(np.array(verts, float), np.array(faces))
    trimesh.repair.fix_normals(mesh)
    mesh.export(out / "bracket.stl")


def nut(out: Path) -> None:
    # A hex prism with a coaxial hole, in centimetres, built as a watertight
    # ring directly (no boolean engine needed): 24 points on the hexagon
    # (apothem 1.4) joined by quads to 24 points on the hole (radius 0.8).
    n = 24
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
    hex_r = 1.4 / np.cos((ang % (np.pi / 3)) - np.pi / 6)
    verts = []
    for z in (-0.6, 0.6):
        verts += [(hex_r[i] * math.cos(a), hex_r[i] * math.sin(a), z) for i, a in enumerate(ang)]
        verts += [(0.8 * math.cos(a), 0.8 * math.sin(a), z) for a in ang]
    o0, i0, o1, i1 = 0, n, 2 * n, 3 * n
    faces = []
    for k in range(n):
        k1 = (k + 1) % n
        faces += [(o0 + k, o0 + k1, o1 + k1), (o0 + k, o1 + k1, o1 + k)]  # outer wall
        faces += [(i0 + k, i1 + k1, i0 + k1), (i0 + k, i1 + k, i1 + k1)]  # inner wall
        faces += [(o1 + k, o1 + k1, i1 + k1), (o1 + k, i1 + k1, i1 + k)]  # top ring
        faces += [(o0 + k, i0 + k1, o0 + k1), (o0 + k, i0 + k, i0 + k1)]  # bottom ring
    mesh = trimesh.Trimesh(np.array(verts), np.array(faces))
    trimesh.repair.fix_normals(mesh)
    mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.tile([180, 180, 190, 255],
                                                                        (len(mesh.vertices), 1)))
    mesh.export(out / "nut.ply")


def block(out: Path) -> None:
    mesh = trimesh.creation.box(extents=(0.05, 0.03, 0.02))
    mesh.export(out / "block_visual.obj")
    (out / "block.urdf").write_text("""<?xml version="1.0"?>
<robot name="block">
  <link name="base_link">
    <contact>
      <lateral_friction value="0.9"/>
    </contact>
    <inertial>
      <origin xyz="0 0 0"/>
      <mass value="0.04"/>
      <inertia ixx="1e-5" ixy="0" ixz="0" iyy="1e-5" iyz="0" izz="1e-5"/>
    </inertial>
    <visual>
      <origin xyz="0 0 0" rpy="0 0 0"/>
      <geometry>
        <mesh filename="block_visual.obj" scale="1 1 1"/>
      </geometry>
      <material name="green">
        <color rgba="0.2 0.7 0.3 1"/>
      </material>
    </visual>
    <collision>
      <origin xyz="0 0 0"/>
      <geometry>
        <box size="0.05 0.03 0.02"/>
      </geometry>
    </collision>
  </link>
</robot>
""")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for fn in (can, bowl, bracket, nut, block):
        fn(OUT)
    print(f"wrote {sorted(p.name for p in OUT.iterdir())}")


if __name__ == "__main__":
    main()
