"""``dropsynth utility``: train, predict, score, experiment (thin commands)."""
from __future__ import annotations

import json

import click


def _clean(fn):
    from dropsynth.cli_errors import _clean_errors

    return _clean_errors(fn)


@click.group()
def utility():
    """What the data is worth: train a detector on a dataset, score it on others.

    train, predict and experiment need the extra: pip install -e '.[utility]'."""


@utility.command("train")
@click.option("--data", required=True, type=click.Path(file_okay=False, exists=True),
              help="dropsynth dataset to train on (its train split; all of it with --val).")
@click.option("--val", "val", type=click.Path(file_okay=False, exists=True),
              help="Dataset to validate on [default: the val split of --data].")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run folder to write.")
@click.option("--epochs", type=int, default=15, show_default=True)
@click.option("--imgsz", type=int, default=320, show_default=True, help="Training image size (long side, px).")
@click.option("--time-h", type=float, help="Time budget in hours (overrides --epochs).")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--task", type=click.Choice(["detect", "segment"]), default="detect", show_default=True)
@click.option("--model", help="Ultralytics model YAML [default: yolov8n.yaml, yolov8n-seg.yaml].")
@click.option("--batch", type=int, default=16, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace a previous training run in --out.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean
def train_cmd(data, val, out, epochs, imgsz, time_h, device, seed, task, model, batch, overwrite, verbose):
    """Train a YOLO detector from scratch (no weights downloaded, offline)."""
    from dropsynth.utility.train import train

    r = train(data, out, val=val, epochs=epochs, imgsz=imgsz, time_h=time_h, device=device, seed=seed, task=task,
              model=model, batch=batch, overwrite=overwrite)
    click.echo(f"trained {r['model']} on {r['train_images']} images ({r['epochs_done']} epochs, {r['device']}): "
               f"{r['seconds']:.0f} s, {r['train_images_per_s']} images/s; weights: {r['weights']}")


@utility.command("predict")
@click.option("--model", required=True, type=click.Path(exists=True), help="Training run folder (or its .pt).")
@click.option("--images", required=True, type=click.Path(file_okay=False, exists=True),
              help="A dataset folder (annotations/instances.json) or any folder of PNG/JPEG images.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="results.json to write.")
@click.option("--imgsz", type=int, help="Inference size [default: the training size].")
@click.option("--conf", type=float, default=0.001, show_default=True, help="Score threshold.")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), default="auto", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean
def predict_cmd(model, images, out, imgsz, conf, device, verbose):
    """COCO results (with file_name and category_name) for every image."""
    from dropsynth.utility.predict import predict

    res = predict(model, images, out, imgsz=imgsz, conf=conf, device=device)
    click.echo(f"{len(res)} detections on {len({r['file_name'] for r in res})} images: {out}")


@utility.command("score")
@click.option("--gt", required=True, type=click.Path(dir_okay=False), help="COCO instances JSON.")
@click.option("--pred", required=True, type=click.Path(dir_okay=False), help="COCO results JSON.")
@click.option("--iou", "iou_type", type=click.Choice(["bbox", "segm"]), default="bbox", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean
def score_cmd(gt, pred, iou_type, as_json, verbose):
    """COCOeval AP, AP50, AP75 and per-class AP50 (images by file name, categories by name)."""
    from dropsynth.utility.score import score_files

    s = score_files(gt, pred, iou_type=iou_type)
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    click.echo(f"AP {s['AP']:.3f}  AP50 {s['AP50']:.3f}  AP75 {s['AP75']:.3f}  ({s['iou_type']}; "
               f"{s['results_matched']} of {s['results']} results matched, {s['images']} images, "
               f"{s['annotations']} objects)")
    if s["unmatched_images"] or s["unmatched_categories"]:
        click.echo(f"left out: {s['unmatched_images']} results on images not in --gt, "
                   f"{s['unmatched_categories']} with a category not in --gt")
    width = max((len(k) for k in s["per_class_AP50"]), default=0)
    for name, ap in s["per_class_AP50"].items():
        click.echo(f"  {name:<{width}}  AP50 {'-' if ap is None else f'{ap:.3f}'}")


@utility.command("experiment")
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False, exists=True),
              help="Study YAML: datasets, trainings, test sets.")
@click.option("--out", "out", type=click.Path(file_okay=False), help="Study folder [default: the file's 'out'].")
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), help="Override the file's device.")
@click.option("--workers", type=int, help="Generation workers [default: all cores].")
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks.")
@_clean
def experiment_cmd(config_path, out, device, workers, verbose):
    """The whole study: generate (or reuse) datasets, train, predict, score; report.md/json and a plot."""
    from dropsynth.utility.experiment import run_experiment

    rep = run_experiment(config_path, out=out, device=device, workers=workers,
                         log=lambda msg: click.echo(msg, err=True))
    click.echo(f"report: {rep['report_md']}\nnumbers: {rep['report_json']}\nplot: {rep['plot']}")
