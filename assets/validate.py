"""Deep checks of an asset pack: the manifest, then every mesh it names.

``validate(path)`` never raises for a bad pack; it returns every problem as
``file: field: what is wrong`` (errors and warnings), so a contributor sees
them all at once. Installing a pack (``install``) refuses it on any error.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from dropsynth.assets.archive import check_members, extract, is_archive, pack_root
from dropsynth.assets.catalog import Problem, read_pack, user_pack_dir
from dropsynth.atomic import remove_stale, swap_into_place, temp_path
from dropsynth.errors import AssetError

from dropsynth.assets.mesh import size_problem


def _check_meshes(manifest: Path, assets, index: dict) -> list[Problem]:
    from dropsynth.assets.mesh import _closed, _load_trimesh, load_visual

    out = []
    for a in assets:
        if a.primitive_kind:
            continue
        w = f"objects[{index.get(a.id, '?')}]"
        field = "urdf" if a.urdf_path else "mesh"
        try:
            mesh = load_visual(a)
        except AssetError as e:
            out.append(Problem(str(manifest), f"{w}.{field}", str(e)))
            continue
        msg = size_problem(a, float(np.max(mesh.extents)))
        if msg:
            out.append(Problem(str(manifest), f"{w}.{'unit' if field == 'mesh' else field}", msg))
            continue
        closed = _closed(mesh)
        if not closed.is_watertight:
            what = "its mass comes from the given mass_kg" if a.mass_kg else \
                "its volume, mass and centre of mass are taken from its convex hull (too heavy if concave)"
            coll = "" if a.collision_path or a.collision_primitive or a.collision_mode != "auto" else \
                "; collision will use a convex decomposition (set 'collision: hull' for a nearly convex object)"
            out.append(Problem(str(manifest), f"{w}.{field}",
                               f"{a.id}: mesh is not watertight (has holes or open edges): {what}{coll}",
                               "warning"))
        elif closed.volume <= 0:
            out.append(Problem(str(manifest), f"{w}.{field}",
                               f"{a.id}: mesh encloses no volume (inverted faces or flat)"))
            continue
        volume = float(closed.volume) if closed.is_watertight else float(mesh.convex_hull.volume)
        mass = a.mass_kg if a.mass_kg is not None else a.density_kg_m3 * volume
        if not np.isfinite(mass) or mass <= 0:
            out.append(Problem(str(manifest), f"{w}.mass_kg", f"{a.id}: mass works out as {mass!r} kg; "
                                                              f"give mass_kg or density_kg_m3"))
        if a.collision_path:
            try:
                _load_trimesh(a.collision_path, "collision", a)
            except AssetError as e:
                out.append(Problem(str(manifest), f"{w}.collision", str(e)))
    return out


def validate(path: str | Path) -> list[Problem]:
    """Every problem of a pack folder, manifest or archive."""
    import yaml

    path = Path(path)
    if not path.exists():
        return [Problem(str(path), "", "asset pack not found")]
    if is_archive(path):
        try:
            bad = check_members(path)
        except AssetError as e:
            return [Problem(str(path), "", str(e).split(": ", 1)[-1])]
        if bad:
            return [Problem(str(path), name, f"unsafe archive member ({reason}); the archive is refused")
                    for name, reason in bad]
        with tempfile.TemporaryDirectory() as tmp:
            try:
                extract(path, Path(tmp))
                root = pack_root(Path(tmp))
            except AssetError as e:
                return [Problem(str(path), "", str(e).split(": ", 1)[-1])]
            problems = validate(root)
            # Report paths inside the archive, not in the temporary folder.
            return [Problem(p.file.replace(tmp, str(path)), p.field, p.message.replace(tmp, str(path)), p.severity)
                    for p in problems]
    if not path.is_dir() and not path.name.endswith((".yaml", ".yml")):
        return [Problem(str(path), "", "not a pack folder, pack.yaml or .tar.gz/.tgz/.zip archive")]
    manifest = path / "pack.yaml" if path.is_dir() else path
    assets, problems = read_pack(path)
    if assets:
        try:
            raw = yaml.safe_load(manifest.read_text())
            index = {o.get("id"): i for i, o in enumerate(raw.get("objects", [])) if isinstance(o, dict)}
        except Exception:
            index = {}
        problems += _check_meshes(manifest, assets, index)
    return problems


def install(archive: str | Path, force: bool = False) -> Path:
    """Validate a pack archive (or folder) and copy it into the user's pack
    folder as ``<pack name>/``. Nothing is installed when it has an error."""
    archive = Path(archive)
    problems = validate(archive)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AssetError(f"{errors[0]}{more}; nothing was installed")
    dest_root = user_pack_dir()
    dest_root.mkdir(parents=True, exist_ok=True)
    # Staged under our temporary name (.install.PID.tmp; what a killed install left goes first),
    # then swapped into place whole: the pack folder is never seen half-copied.
    remove_stale(dest_root / "install")
    tmp = temp_path(dest_root / "install")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        if is_archive(archive):
            extract(archive, tmp)
            src = pack_root(tmp)
        else:
            src = archive if archive.is_dir() else archive.parent
        assets, _ = read_pack(src)
        name = assets[0].pack
        dest = dest_root / name
        if dest.exists() and not force:
            raise AssetError(f"{archive}: name: a pack named {name!r} is already installed in {dest}; "
                             f"pass --force to replace it")
        if not is_archive(archive):  # a pack folder: installed as a copy
            src = Path(shutil.copytree(src, tmp / "pack", symlinks=False))
        swap_into_place(src, dest)
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
