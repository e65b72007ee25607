"""The ``dropsynth`` command line. Thin commands over library functions; every
DropsynthError becomes one line on stderr and exit code 1 (``--verbose`` for
the traceback)."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from dropsynth import __version__
from dropsynth.cli_errors import _STOP_SIGNAL, _clean_errors, _stop_on_sigterm
from dropsynth.errors import ConfigError

DEFAULT_OUT = "out/demo"
def _positive(name: str, value):
    if value is not None and value < 1:
        raise ConfigError(f"{name}: must be a positive integer, got {value}")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dropsynth")
def main():
    """dropsynth: physics-settled synthetic scenes rendered into COCO datasets."""


@main.command()
@click.option("--out", "out_dir", default=DEFAULT_OUT, show_default=True, type=click.Path(file_okay=False),
              help="Output folder (must be empty, or a previous dropsynth output with --overwrite).")
@click.option("--scenes", type=int, help="Settled scenes to generate [config: scenes, default 8].")
@click.option("--views-per-scene", type=int, help="Camera views per scene [config: views_per_scene, default 4].")
@click.option("--seed", type=int, help="Master seed [config: seed, default 0].")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Scene YAML file.")
@click.option("--width", type=int, help="Image width in pixels [config: camera.width].")
@click.option("--height", type=int, help="Image height in pixels [config: camera.height].")
@click.option("--mask-format", type=click.Choice(["polygon", "rle"]),
              help="COCO segmentation format [config: output.mask_format, default polygon].")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override any config key, e.g. --set scene.num_objects=[3,6] (repeatable).")
@click.option("--assets", "packs", multiple=True, type=click.Path(),
              help="Extra asset pack: folder or .tar.gz/.zip (repeatable; also $DROPSYNTH_ASSETS).")
@click.option("--no-builtin", is_flag=True, help="Leave out the built-in asset pack [config: assets.builtin].")
@click.option("--preset", help="Edge-case preset: occlusion, tiny, truncation, thin, crowd [config: preset].")
@click.option("--overwrite", is_flag=True, help="Replace a previous dropsynth output in --out.")
@click.option("--resume", is_flag=True,
              help="Finish an interrupted run in --out (same config and seed): keep complete shards, redo the rest.")
@click.option("--workers", type=int, help="Worker processes (default: all cores).")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Where shards run: local processes, or Ray actors (pip install ray).")
@click.option("--ray-address", help="Ray cluster to join (e.g. auto, or ray://head:10001); default: a local Ray.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("-v", "--verbose", is_flag=True, help="Log details and show tracebacks.")
@_clean_errors
def generate(out_dir, scenes, views_per_scene, seed, config_path, width, height, mask_format, sets, packs,
             no_builtin, preset, overwrite, resume, workers, backend, ray_address, no_progress, verbose):
    """Generate a dataset: drop objects, settle them, render views, write COCO."""
    from dropsynth import api
    from dropsynth import config as config_mod

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    for name, v in (("--scenes", scenes), ("--views-per-scene", views_per_scene), ("--width", width),
                    ("--height", height), ("--workers", workers)):
        _positive(name, v)
    if resume and overwrite:
        raise ConfigError("--resume and --overwrite: choose one (finish the run in --out, or start it again)")
    if seed is not None and seed < 0:
        raise ConfigError(f"--seed: must be >= 0, got {seed}")
    # One layer per source, each checked on its own, so that errors name it.
    overrides = [("--set", config_mod.parse_set(sets))] + [
        (flag, value) for flag, value, given in (
            ("--scenes", {"scenes": scenes}, scenes is not None),
            ("--views-per-scene", {"views_per_scene": views_per_scene}, views_per_scene is not None),
            ("--seed", {"seed": seed}, seed is not None),
            ("--width", {"camera": {"width": width}}, width is not None),
            ("--height", {"camera": {"height": height}}, height is not None),
            ("--mask-format", {"output": {"mask_format": mask_format}}, bool(mask_format)),
            ("--no-builtin", {"assets": {"builtin": False}}, no_builtin),
            ("--preset", {"preset": preset}, bool(preset))) if given]
    cfg = api.load_config(config_path, sources=overrides)
    total = cfg.scenes * cfg.views_per_scene

    from tqdm import tqdm

    lib_bar = []

    def library_progress(done: int, total: int) -> None:
        if not lib_bar:
            lib_bar.append(tqdm(total=total, unit="asset", desc="grasp libraries", disable=no_progress,
                                file=sys.stderr, dynamic_ncols=True, leave=False))
        lib_bar[0].update(done - lib_bar[0].n)
        if done >= total:
            lib_bar[0].close()

    # frames done/total, frames/s, elapsed and ETA, and the annotations written so far
    bar = tqdm(total=total, unit="frame", desc="generating", disable=no_progress, file=sys.stderr,
               dynamic_ncols=True, mininterval=0.5,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} frames "
                          "[{rate_noinv_fmt}, {elapsed} elapsed, ETA {remaining}{postfix}]")
    anns_so_far = [0]

    def progress(frames: int, annotations: int) -> None:
        anns_so_far[0] += annotations
        bar.set_postfix_str(f"{anns_so_far[0]} annotations", refresh=False)
        bar.update(frames)

    import signal

    _STOP_SIGNAL.clear()
    sigterm = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        summary = api.generate(cfg, out_dir, packs=list(packs), overwrite=overwrite, resume=resume,
                               workers=workers, backend=backend, ray_address=ray_address,
                               progress=progress, library_progress=library_progress)
    finally:
        signal.signal(signal.SIGTERM, sigterm)
        bar.close()
        for b in lib_bar:
            b.close()
    _print_summary(summary, cfg)


def _print_summary(s, cfg) -> None:
    echo = click.echo
    echo(f"dataset:      {s.out_dir}")
    echo(f"frames:       {s.frames} ({cfg.scenes} scenes x {cfg.views_per_scene} views, "
         f"{cfg.camera.width}x{cfg.camera.height})")
    echo(f"annotations:  {s.annotations}  (mask format: {cfg.output.mask_format})")
    width = max((len(k) for k in s.per_class), default=0)
    for name, n in s.per_class.items():
        echo(f"  {name:<{width}}  {n}")
    kept = "kept" if cfg.output.keep_empty_images else "not written"
    echo(f"empty images: {s.empty_images} ({kept})")
    if s.renderers:  # runs with render.backend cycles
        echo("renderers:    " + ", ".join(f"{n} {k}" for k, n in sorted(s.renderers.items())))
    echo(f"dropped:      {s.removed_objects} objects left the table, {s.unplaced_objects} found no spawn place"
         + (f", {s.scenes_not_at_rest} scenes hit the step cap" if s.scenes_not_at_rest else ""))
    if s.scenes_calmed or s.scenes_redrawn:  # scenes that hit physics.max_steps and came to rest after it
        echo(f"settling:     {s.scenes_calmed} scenes calmed after the step cap, {s.scenes_redrawn} redrawn")
    st = s.stage_seconds
    if s.shards_resumed < 0:
        echo("time:         nothing to do: the run in --out was already complete")
    else:
        resumed = f", {s.shards_resumed} shards kept from before" if s.shards_resumed else ""
        asked = f" (of {s.workers_asked} asked: one per shard at most)" if s.workers < s.workers_asked else ""
        echo(f"time:         {s.seconds:.1f} s, {s.frames_per_s:.2f} frames/s with {s.workers} {s.backend} "
             f"worker(s){asked}{resumed}  (CPU s: physics {st['physics']:.1f}, render {st['render']:.1f}, "
             f"annotate {st['annotate']:.1f}, write {st['write']:.1f}"
             f"{', grasps %.1f' % st['grasps'] if st.get('grasps') else ''}; {s.gl_renderer or 'GL'})")
    echo(f"coco:         {s.out_dir}/annotations/instances.json")
    if s.splits:
        echo("splits:       " + ", ".join(f"{k} {n} images" for k, n in s.splits.items()))
    for fmt, path in s.exports.items():
        echo(f"{fmt + ':':<14}{path}")
    if s.preview:
        echo(f"preview:      {s.preview}")
    if "stats" not in s.exports:
        echo(f"report:       dropsynth stats {s.out_dir}")


@main.command()
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="PNG to write [default: DATASET/preview.png].")
@click.option("--frames", type=int, default=12, show_default=True, help="Frames in the grid.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def preview(dataset, out_path, frames, verbose):
    """Draw a grid of frames with masks, boxes and class names."""
    from dropsynth.writers.preview import write_preview

    _positive("--frames", frames)
    click.echo(str(write_preview(dataset, out_path, max_frames=frames)))


@main.command()
@click.argument("datasets", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Merged dataset folder.")
@click.option("--overwrite", is_flag=True, help="Replace a previous dropsynth output in --out.")
@click.option("--preview/--no-preview", default=True, show_default=True, help="Write OUT/preview.png.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def merge(datasets, out_dir, overwrite, preview, verbose):
    """Merge whole datasets: categories matched by name, ids renumbered, file names kept unique."""
    from dropsynth.writers.merge import merge_datasets

    counts = merge_datasets(list(datasets), out_dir, overwrite=overwrite)
    click.echo(f"merged {len(datasets)} datasets into {out_dir}: {counts['images']} images, "
               f"{counts['annotations']} annotations, {counts['categories']} categories")
    if preview and counts["images"]:
        from dropsynth.writers.preview import write_preview

        click.echo(f"preview: {write_preview(out_dir)}")


@main.command()
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder [default: DATASET/stats].")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def stats(dataset, out_dir, verbose):
    """Statistics report: HTML with plots, and the numbers as JSON."""
    from dropsynth.writers.stats import write_report

    html, js = write_report(dataset, out_dir)
    click.echo(f"report: {html}\nnumbers: {js}")


def _parse_ratios(items) -> dict | None:
    if not items:
        return None
    out = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            ratio = float(value)
        except ValueError:
            raise ConfigError(f"--split {item}: expected NAME=RATIO, e.g. --split train=0.8") from None
        if name.strip() in out:
            raise ConfigError(f"--split {item}: split {name.strip()!r} is given twice")
        if not 0 <= ratio <= 1:
            raise ConfigError(f"--split {item}: a ratio is a fraction from 0 to 1, got {value}")
        out[name.strip()] = ratio
    total = sum(out.values())
    if total > 1 + 1e-9:
        raise ConfigError(f"--split: the ratios sum to {total:g} ({', '.join(items)}); they must not exceed 1, "
                          f"e.g. --split train=0.8 --split val=0.1 --split test=0.1")
    return out


@main.group()
def export():
    """Write a finished dataset in another format."""


@export.command("yolo")
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--task", type=click.Choice(["detect", "segment"]), default="detect", show_default=True)
@click.option("--split", "split_items", multiple=True, metavar="NAME=RATIO",
              help="Split ratios by scene (repeatable) [default: train=0.8 val=0.1 test=0.1].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder [default: DATASET/yolo, or DATASET/yolo-seg with --task segment].")
@click.option("--overwrite", is_flag=True, help="Replace a previous YOLO export there.")
@click.option("--polygons", "convention", type=click.Choice(["centers", "edges"]), default="centers",
              show_default=True, help="segment: vertices at pixel centres (exact for OpenCV's fillPoly, so for "
                                      "Ultralytics' training masks) or pixel corners (COCO's).")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def export_yolo_cmd(dataset, task, split_items, out_dir, overwrite, convention, verbose):
    """Ultralytics YOLO: images/<split>, labels/<split> and data.yaml."""
    from dropsynth.writers.yolo import export_yolo

    if out_dir is None:  # the same folders as output.export's yolo and yolo-seg
        out_dir = os.path.join(dataset, "yolo-seg" if task == "segment" else "yolo")
    click.echo(str(export_yolo(dataset, out_dir, task=task, ratios=_parse_ratios(split_items), overwrite=overwrite,
                               convention=convention)))


@export.command("bop")
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder [default: DATASET/bop].")
@click.option("--overwrite", is_flag=True, help="Replace a previous BOP export there.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def export_bop_cmd(dataset, out_dir, overwrite, verbose):
    """BOP: scene_camera/scene_gt/scene_gt_info, masks, models and models_info."""
    from dropsynth.writers.bop import export_bop

    click.echo(str(export_bop(dataset, out_dir, overwrite=overwrite)))


@export.command("datumaro")
@click.argument("dataset", type=click.Path(file_okay=False))
@click.option("--split", "split_items", multiple=True, metavar="NAME=RATIO",
              help="Split ratios by scene (repeatable) [default: the run's output.splits, else train=0.8 val=0.1 "
                   "test=0.1].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder [default: DATASET/datumaro].")
@click.option("--overwrite", is_flag=True, help="Replace a previous Datumaro export there.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def export_datumaro_cmd(dataset, split_items, out_dir, overwrite, verbose):
    """COCO as images/<split>/ and annotations/instances_<split>.json (Datumaro's coco_instances layout)."""
    from dropsynth.writers.datumaro import export_datumaro

    click.echo(str(export_datumaro(dataset, out_dir, ratios=_parse_ratios(split_items), overwrite=overwrite)))


@main.group()
def config():
    """Inspect run configs."""


@config.command("show")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Scene YAML file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a key (repeatable).")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def config_show(config_path, sets, verbose):
    """Print the resolved config (defaults filled in) as YAML."""
    import yaml

    from dropsynth import config as config_mod

    cfg = config_mod.load(config_path, config_mod.parse_set(sets))
    click.echo(yaml.safe_dump(cfg.to_dict(), sort_keys=False).rstrip())


def _grasp_libraries(cfg, packs: list, workers: int, no_progress: bool) -> list[dict]:
    """Build (or find in the cache) the grasp library of every mesh asset the
    config selects, with a progress bar."""
    from tqdm import tqdm

    from dropsynth import grasp_library as gl
    from dropsynth.pipeline import check_workers, selected_catalog

    _, catalog = selected_catalog(cfg, packs)
    meshes = [a for a in catalog.assets if not a.primitive_kind]
    gripper, params = gl.gripper_from_config(cfg.grasps), gl.params_from_config(cfg.grasps)
    check_workers(workers, shards=len(gl.missing_libraries(meshes, gripper, params)))  # one process per build
    with tqdm(total=len(meshes), unit="asset", desc="grasp libraries", disable=no_progress, file=sys.stderr,
              dynamic_ncols=True) as bar:
        return gl.build_libraries(meshes, gripper, params, workers=workers, progress=bar.update)


def _grasp_config(config_path, sets, packs_flag_no_builtin):
    from dropsynth import config as config_mod

    overrides = [("--set", config_mod.parse_set(sets))]
    if packs_flag_no_builtin:
        overrides.append(("--no-builtin", {"assets": {"builtin": False}}))
    return config_mod.load(config_path, overrides)


@main.group()
def grasps():
    """Grasp libraries: build them for a pack, look at them."""


@grasps.command("build")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Run YAML file (its grasps, "
              "assets and scene selection are used).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a key, e.g. grasps.candidates=128.")
@click.option("--assets", "packs", multiple=True, type=click.Path(), help="Extra asset pack (repeatable).")
@click.option("--no-builtin", is_flag=True, help="Leave out the built-in pack.")
@click.option("--workers", type=int, help="Processes, one asset each (default: all cores).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def grasps_build(config_path, sets, packs, no_builtin, workers, no_progress, verbose):
    """Build the grasp library of every mesh asset (cached; a second call
    reuses it): antipodal candidates, each tried in PyBullet (close, lift,
    shake) nominally and with the pose and friction perturbed."""
    from dropsynth.pipeline import default_workers

    _positive("--workers", workers)
    cfg = _grasp_config(config_path, sets, no_builtin)
    rows = _grasp_libraries(cfg, list(packs), workers or default_workers(), no_progress)
    click.echo(f"{'asset':<28} {'grasps':>6} {'success':>8} {'robust':>7} {'seconds':>8}")
    for r in rows:
        click.echo(f"{r['asset']:<28} {r['grasps']:>6} {r['success_rate']:>8.2f} {r['robust_mean']:>7.2f} "
                   f"{r['seconds']:>8.1f}{'' if r['built'] else '  (cached)'}")
    from dropsynth.assets.archive import cache_dir

    click.echo(f"libraries cached in {cache_dir() / 'grasps'}")


@grasps.command("show")
@click.argument("asset")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="PNG to write [default: <id>_grasps.png].")
@click.option("--count", type=int, default=40, show_default=True, help="Grasps drawn (held ones first).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Run YAML file (gripper settings).")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a key (repeatable).")
@click.option("--assets", "packs", multiple=True, type=click.Path(), help="Extra asset pack (repeatable).")
@click.option("--no-builtin", is_flag=True, help="Leave out the built-in pack.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def grasps_show(asset, out_path, count, config_path, sets, packs, no_builtin, verbose):
    """Draw an asset's grasp library on its mesh (green: held, red: dropped),
    building the library first when it is not cached. ASSET: id or pack/id."""
    from dropsynth import grasp_library as gl
    from dropsynth.pipeline import selected_catalog
    from dropsynth.writers.grasp_figure import draw_library

    _positive("--count", count)
    cfg = _grasp_config(config_path, sets, no_builtin)
    _, catalog = selected_catalog(cfg, list(packs))
    found = [a for a in catalog.assets if asset in (a.id, a.key)]
    if not found:
        raise ConfigError(f"ASSET: no asset {asset!r}; known: {', '.join(a.key for a in catalog.assets)}")
    a = found[0]
    if a.primitive_kind:
        raise ConfigError(f"ASSET: {a.key} is a primitive; its grasps are made per instance, in each scene")
    gripper = gl.gripper_from_config(cfg.grasps)
    lib, _ = gl.library_for(a, gripper, gl.params_from_config(cfg.grasps))
    out = Path(out_path or f"{a.id}_grasps.png")
    draw_library(lib, *gl.object_mesh(a), gripper, out, count=count, title=a.key)
    click.echo(f"{a.key}: {len(lib.success)} grasps, {int(lib.success.sum())} held, "
               f"mean robust rate {float(lib.robust.mean()) if len(lib.robust) else 0:.2f}; picture: {out}")


@main.group()
def assets():
    """List, validate and install asset packs."""


@assets.command("list")
@click.option("--assets", "packs", multiple=True, type=click.Path(), help="Extra pack to include (repeatable).")
@click.option("--no-builtin", is_flag=True, help="Leave out the built-in pack.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def assets_list(packs, no_builtin, verbose):
    """Packs, objects, categories and licences that generate would use."""
    from dropsynth.assets.catalog import load_catalog, user_pack_dir

    cat = load_catalog(list(packs), builtin=not no_builtin)
    for pack in cat.packs:
        objs = [a for a in cat.assets if a.pack == pack]
        click.echo(f"{pack}  ({len(objs)} objects, licence: {objs[0].license})  {objs[0].pack_dir}")
        for a in objs:
            src = f"primitive {a.primitive_kind}" if a.primitive_kind else os.path.basename(a.urdf_path or a.mesh_path)
            click.echo(f"  {a.id:<18} category {a.category:<14} ({a.supercategory})  {src}")
    cats = [c for c, _ in cat.categories]
    click.echo(f"{len(cats)} categories: {', '.join(cats)}")
    click.echo(f"installed packs live in {user_pack_dir()}")


@assets.command("validate")
@click.argument("path", type=click.Path())
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def assets_validate(path, verbose):
    """Check a pack folder or archive: manifest, files, meshes, sizes, masses.

    Prints one line per problem (file: field: what is wrong); exits 1 when
    any is an error."""
    from dropsynth.assets.validate import validate

    problems = validate(path)
    for p in problems:
        click.echo(str(p), err=p.severity == "error")
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors:
        click.echo(f"{path}: {errors} error(s), {warnings} warning(s)", err=True)
        sys.exit(1)
    click.echo(f"{path}: valid ({warnings} warning(s))")


@assets.command("add")
@click.argument("archive", type=click.Path())
@click.option("--force", is_flag=True, help="Replace an installed pack of the same name.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean_errors
def assets_add(archive, force, verbose):
    """Validate a pack (archive or folder) and install it into the user's pack folder."""
    from dropsynth.assets.validate import install

    dest = install(archive, force=force)
    click.echo(f"installed {dest.name} into {dest}")


@config.command("schema")
def config_schema():
    """Print the JSON Schema of the run config (types, ranges, defaults, docs)."""
    import json

    from dropsynth import config as config_mod

    click.echo(json.dumps(config_mod.json_schema(), indent=2))


from dropsynth.utility.cli import utility  # noqa: E402

main.add_command(utility)

if __name__ == "__main__":
    main()
