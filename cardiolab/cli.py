"""The ``cardiolab`` command: a thin layer over plain library functions.

    cardiolab info PATH [--json]             what a study holds (NIfTI, DICOM, zip, ACDC folder)
    cardiolab phantom OUT.nii.gz [--seed ..] write a synthetic cine with labels and truth
    cardiolab demo [--out DIR]               the embedded default: a phantom, measured
    cardiolab analyze STUDY --out DIR        segment every frame, measure, write a report
    cardiolab train --recipe NAME            train a bundled model from scratch
    cardiolab evaluate --checkpoint PT --data acdc:DIR --split S --out results.json

Every subcommand turns a `CineLoadError` into one clear line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path


RECIPE_NAMES = ("default_acdc", "esed_phantom", "fcslstm_phantom", "lv_volume_acdc", "stcnn_phantom",
                "unet4d_phantom")


def _print_info(study, as_json: bool) -> None:
    summary = study.summary()
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    times = summary["frame_times_ms"]
    provenance = summary["provenance"]
    print(f"source          {summary['source']}")
    if provenance.get("format"):
        series = f", series {provenance['series_uid']}" if provenance.get("series_uid") else ""
        description = f" ({provenance['series_description']!r})" if provenance.get("series_description") else ""
        print(f"format          {provenance['format']}{series}{description}")
    print(f"shape (T,Z,Y,X) {tuple(summary['shape'])}")
    print(f"frames T        {summary['n_frames']}")
    print(f"slices Z        {summary['n_slices']}")
    print(f"spacing (z,y,x) {', '.join(f'{s:.3g}' for s in summary['spacing_mm'])} mm")
    if len(times) > 1:
        print(f"frame times     {times[0]:.1f} .. {times[-1]:.1f} ms (step {times[1] - times[0]:.1f} ms)")
    print(f"labelled frames {summary['labelled_frames'] or 'none'}")
    print(f"ED / ES frame   {summary['ed_frame']} / {summary['es_frame']} (0-based)")
    # Every fallback the reader used: the measures rest on these assumptions.
    for warning in provenance["warnings"]:
        print(f"warning         {warning}")


def cmd_info(args) -> int:
    from cardiolab.data import load_cine

    _print_info(load_cine(args.path), args.json)
    return 0


def cmd_phantom(args) -> int:
    from cardiolab.data import save_study
    from cardiolab.data.phantom import make_phantom

    options = {}
    if args.ef is not None:
        options["lv_ef_pct"] = args.ef
    if args.frames is not None:
        options["n_frames"] = args.frames
    if args.slices is not None:
        options["n_slices"] = args.slices
    study = make_phantom(seed=args.seed, **options)
    for path in save_study(study, args.out):
        print(f"wrote {path}")
    print(f"truth: LVEF {study.truth['lv_ef_pct']:.1f} %, LVEDV {study.truth['lv_edv_ml']:.1f} ml, "
          f"LVESV {study.truth['lv_esv_ml']:.1f} ml, LV mass {study.truth['lv_mass_g']:.1f} g")
    return 0


def cmd_demo(args) -> int:
    """Generate a phantom, measure it from its labels, compare with its truth."""
    from cardiolab.clinical import cardiac_function
    from cardiolab.data import save_study
    from cardiolab.data.phantom import make_phantom

    study = make_phantom(seed=args.seed)
    print("cardiolab demo: a synthetic short-axis cine study (the embedded default)\n")
    _print_info(study, as_json=False)
    measured = cardiac_function(study).to_dict()
    print("\nmeasure           from labels   truth")
    for key, unit in (("lv_edv_ml", "ml"), ("lv_esv_ml", "ml"), ("lv_ef_pct", "%"), ("rv_ef_pct", "%"), ("lv_mass_g", "g")):
        print(f"{key:16s} {measured[key]:10.1f}   {study.truth[key]:8.1f} {unit}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        save_study(study, out / "phantom.nii.gz")
        (out / "report.json").write_text(json.dumps(measured, indent=2, default=float))
        print(f"\nwrote {out / 'phantom.nii.gz'} and {out / 'report.json'}")
    return 0


def cmd_analyze(args) -> int:
    from cardiolab.analyze import analyze_study, format_value

    result = analyze_study(args.study, model=args.model, device=args.device, progress=True,
                           events_model=args.events_model)
    paths = result.write(args.out)
    f = result.function
    print(f"LVEF {format_value(f.lv_ef_pct, '%')}  LVEDV {format_value(f.lv_edv_ml, 'ml')}  LVESV {format_value(f.lv_esv_ml, 'ml')}  "
          f"RVEF {format_value(f.rv_ef_pct, '%')}  LV mass {format_value(f.lv_mass_g, 'g')}  (ED {f.ed_frame}, ES {f.es_frame})")
    for flag in f.qc_flags or []:
        print(f"QC: {flag.get('message', flag)}")
    print(f"analysed in {result.runtime_s:.2f} s; wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_train(args) -> int:
    import inspect

    from cardiolab.train.recipes import RECIPES

    if args.recipe not in RECIPES:
        raise KeyError(f"unknown recipe {args.recipe!r}; recipes: {', '.join(sorted(RECIPES))}")
    recipe = RECIPES[args.recipe]
    options = {"out_dir": args.out, "epochs": args.epochs, "seed": args.seed, "device": args.device,
               "resume": args.resume, "data_root": args.data_root,
               "pseudo_cine_patients": args.pseudo_cine_patients, "lr": args.lr, "init_from": args.init_from,
               "small_cavity_repeats": args.small_cavity_repeats}
    accepted = inspect.signature(recipe).parameters  # e.g. the phantom recipes take no data_root
    results = recipe(**{k: v for k, v in options.items() if v is not None and k in accepted})
    if "summary" in results:  # a segmentation recipe measured on patients
        from cardiolab.evaluate import results_table

        print(results_table(results["summary"]))
    else:
        for name, value in results.get("metrics", {}).items():
            print(f"{name:24s} {value:.4g}" if isinstance(value, float) else f"{name:24s} {value}")
        print(f"wrote {results.get('bundle')} and {results.get('card')}")
    return 0


def _parse_data(spec: str):
    """``acdc:DIR`` or ``acdc`` -> (name, root)."""
    name, _, root = spec.partition(":")
    return name, (root or None)


def cmd_evaluate(args) -> int:
    from cardiolab.analyze import resolve_model
    from cardiolab.data import datasets
    from cardiolab.evaluate import evaluate_segmentation, results_table

    model = resolve_model(args.checkpoint or args.model)
    bundle = getattr(model, "bundle", None) or model  # the evaluation harness runs slice segmenters' bundles
    if args.test_time_flips:  # README's experiment: average over left-right and up-down flipped copies
        bundle = dataclasses.replace(bundle, test_time_flips=True, _inference_model=None)
    name, root = _parse_data(args.data)
    studies = datasets.load(name, root=root, split=args.split)
    results = evaluate_segmentation(bundle, studies, device=args.device)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=float))
    print(results_table(results["summary"]))
    print(f"wrote {args.out} ({results['n_cases']} cases)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cardiolab", description="Spatio-temporal cardiac imaging: load, measure, segment, explain.")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="describe a cine study (NIfTI, DICOM folder/zip, ACDC patient folder)")
    info.add_argument("path")
    info.add_argument("--json", action="store_true", help="print machine-readable JSON")
    info.set_defaults(func=cmd_info)

    phantom = sub.add_parser("phantom", help="write a synthetic cine (image, _gt labels, _truth.json)")
    phantom.add_argument("out", help="output image path, e.g. phantom.nii.gz")
    phantom.add_argument("--seed", type=int, default=0)
    phantom.add_argument("--ef", type=float, default=None, help="LV ejection fraction in %% (15-80)")
    phantom.add_argument("--frames", type=int, default=None)
    phantom.add_argument("--slices", type=int, default=None)
    phantom.set_defaults(func=cmd_phantom)

    demo = sub.add_parser("demo", help="run the embedded default: a phantom study, measured")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default=None, help="folder to write the phantom and its report to")
    demo.set_defaults(func=cmd_demo)

    analyze = sub.add_parser("analyze", help="segment every frame of a study and measure its function")
    analyze.add_argument("study", help="4D NIfTI, DICOM folder or zip, or ACDC patient folder")
    analyze.add_argument("--model", default="default", help="a bundled model name or a zoo checkpoint (.pt)")
    analyze.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    analyze.add_argument("--events-model", default=None,
                         help="take ED and ES from this events model of the zoo (e.g. esed_detector), "
                              "not from the volume curve")
    analyze.add_argument("--out", required=True, help="folder for report.json, segmentation.nii.gz, volumes.csv, plot")
    analyze.set_defaults(func=cmd_analyze)

    train = sub.add_parser("train", help="train a bundled model with its recipe")

    # Names spelled out here so that building the parser does not import torch (tested against RECIPES).
    train.add_argument("--recipe", default="default_acdc", help=f"one of: {', '.join(RECIPE_NAMES)}")
    train.add_argument("--out", default=None, help="run folder (checkpoints, metrics.jsonl)")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--device", default=None)
    train.add_argument("--data-root", default=None, help="ACDC folder (default: $CARDIOLAB_ACDC); ACDC recipes only")
    train.add_argument("--pseudo-cine-patients", type=int, default=None,
                       help="phantom recipes: also train on ACDC pseudo-cine cycles of this many patients")
    train.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    train.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the recipe's)")
    train.add_argument("--init-from", default=None,
                       help="default_acdc: start from this checkpoint's weights (fine-tuning, a warm restart)")
    train.add_argument("--small-cavity-repeats", type=int, default=None,
                       help="default_acdc: show slices whose LV cavity is small inside a thick wall this many "
                            "times per epoch (hypertrophied hearts at end-systole)")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="score a segmentation model on labelled data")
    evaluate.add_argument("--model", default="default", help="a bundled model name")
    evaluate.add_argument("--checkpoint", default=None, help="a zoo checkpoint (.pt); overrides --model")
    evaluate.add_argument("--data", default="acdc", help="DATASET[:ROOT], e.g. acdc:/data/acdc")
    evaluate.add_argument("--split", default="holdout20")
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--test-time-flips", action="store_true",
                          help="average the model over flipped copies (only helps models trained with flips)")
    evaluate.add_argument("--out", default="results.json")
    evaluate.set_defaults(func=cmd_evaluate)

    from cardiolab.notebooks import add_notebook_commands  # `cardiolab notebooks run|sweep|list`

    add_notebook_commands(sub)
    return parser


def main(argv=None) -> int:
    from cardiolab.data.datasets import DatasetNotFound
    from cardiolab.data.errors import CineLoadError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CineLoadError, DatasetNotFound, KeyError) as error:
        # Input the user can fix (a file, a data set, a model name): one line, no traceback.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"cardiolab {args.command}: error: {message}", file=sys.stderr)
        return 2
