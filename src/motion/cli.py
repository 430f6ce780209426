"""Command line for motion in (mocap retargeting) and out (BVH and glTF export).

    python -m src.motion retarget IN.bvh[.gz] OUT.npz [--fps 30] [--smpl_model_path PATH]
    python -m src.motion report DIR [--fps 30] [--json OUT.json] [--smpl_model_path PATH]
    python -m src.motion export RESULT.npz [--bvh OUT.bvh] [--gltf OUT.glb] [--fps F]
        [--smpl_model_path PATH]

``retarget`` writes one clip (``poses`` (N, 72), ``trans`` (N, 3) metres, ``betas`` (10,),
``fps``, ``joints`` (N, 24, 3)) and prints its frame count and bone-direction error; ``report``
retargets every ``*.bvh``/``*.bvh.gz`` in DIR and prints the error per skeleton kind and over
the corpus. ``export`` writes one demo track's predictions (``hmmr_output.npz``: one file per
track) as a BVH on the body model's 24-joint tree (``src.motion.export``) and/or as a binary
glTF of the skinned, animated body mesh (``src.motion.gltf``); docs/demo_outputs.md.
Errors print one line naming the file and exit with status 1; files are written under a
temporary name and renamed, so a failed run leaves none.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from src.motion.export import export_result
from src.motion.retarget import DEFAULT_FPS, load_rest_joints, retarget_file

PROG = "python -m src.motion"
NPZ_KEYS = ("poses", "trans", "betas", "fps", "joints")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("retarget", help="retarget one BVH clip to a body-model .npz")
    one.add_argument("input", help="a .bvh or .bvh.gz file")
    one.add_argument("output", help="output .npz")
    many = sub.add_parser("report", help="retarget every clip of a folder; print the error")
    many.add_argument("folder", help="folder of .bvh/.bvh.gz files (MANIFEST.tsv beside them)")
    many.add_argument("--json", default=None, help="also write the figures to this .json")
    out = sub.add_parser(
        "export", help="write a demo result's predicted motion as a BVH and/or a glTF (.glb)"
    )
    out.add_argument("result", help="a demo result (hmmr_output.npz, one per track)")
    out.add_argument("--bvh", default=None, help="output .bvh (or .bvh.gz)")
    out.add_argument(
        "--gltf", default=None, help="output .glb: the skinned body mesh and its animation"
    )
    out.add_argument(
        "--fps", type=float, default=None, help="frame rate (default: the result's video fps)"
    )
    for p in (one, many):
        p.add_argument(
            "--fps",
            type=float,
            default=DEFAULT_FPS,
            help=f"output frame rate (default {DEFAULT_FPS:g})",
        )
    for p in (one, many, out):
        p.add_argument(
            "--smpl_model_path",
            default=None,
            help="body-model file (default: SMPL if present, else the stand-in; export: the "
            "result's body model when its file exists)",
        )
    return parser


def _stats(errors: np.ndarray) -> dict[str, float]:
    return {"mean_deg": float(errors.mean()), "p95_deg": float(np.percentile(errors, 95))}


def _save_npz(path: Path, clip: dict) -> None:
    from src.smpl.io import atomic_write

    arrays = {k: np.asarray(clip[k]) for k in NPZ_KEYS}
    atomic_write(path, lambda fh: np.savez(fh, **arrays))


def retarget_one(args: argparse.Namespace) -> str:
    output = Path(args.output)
    if output.suffix != ".npz":
        raise ValueError(f"{output}: the output must end in .npz")
    clip = retarget_file(args.input, fps=args.fps, smpl_model_path=args.smpl_model_path)
    _save_npz(output, clip)
    return (
        f"{args.input}: {clip['skeleton']}, {len(clip['poses'])} frames at {clip['fps']:g} fps "
        f"(dropped {clip['trimmed_frames']} leading, {clip['resampling']}); bone-direction error "
        f"mean {clip['error_mean_deg']:.2f} deg, p95 {clip['error_p95_deg']:.2f} deg -> {output}"
    )


def clip_files(folder: Path) -> list[Path]:
    """Sorted ``*.bvh`` / ``*.bvh.gz`` files of ``folder``."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: folder not found")
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".bvh", ".bvh.gz")))
    if not files:
        raise ValueError(f"{folder}: no .bvh or .bvh.gz files")
    return files


def report(args: argparse.Namespace) -> str:
    from tqdm import tqdm

    files = clip_files(Path(args.folder))
    body_rest = load_rest_joints(args.smpl_model_path)
    per_kind: dict[str, list[np.ndarray]] = {}
    per_segment: dict[str, dict[str, list[np.ndarray]]] = {}
    clips = []
    for path in tqdm(files, desc="retargeting", unit="clip"):
        clip = retarget_file(path, fps=args.fps, body_rest=body_rest)
        errors = clip["bone_angle_error_deg"].astype(np.float64)
        per_kind.setdefault(clip["skeleton"], []).append(errors.ravel())
        segs = per_segment.setdefault(clip["skeleton"], {})
        for k, name in enumerate(clip["bone_names"]):
            segs.setdefault(name, []).append(errors[:, k])
        clips.append(
            {
                "file": path.name,
                "skeleton": clip["skeleton"],
                "subject": clip["subject"],
                "frames": len(clip["poses"]),
                **_stats(errors),
            }
        )
    kinds = {
        kind: {
            "clips": len(v),
            "frames": sum(c["frames"] for c in clips if c["skeleton"] == kind),
            **_stats(np.concatenate(v)),
            "segments": {s: _stats(np.concatenate(e)) for s, e in per_segment[kind].items()},
        }
        for kind, v in sorted(per_kind.items())
    }
    corpus = {
        "clips": len(clips),
        "frames": sum(c["frames"] for c in clips),
        **_stats(np.concatenate([e for v in per_kind.values() for e in v])),
    }
    lines = [f"{'skeleton':10s} {'clips':>5s} {'frames':>7s} {'mean deg':>9s} {'p95 deg':>8s}"]
    for kind, s in kinds.items():
        lines.append(
            f"{kind:10s} {s['clips']:5d} {s['frames']:7d} {s['mean_deg']:9.2f} {s['p95_deg']:8.2f}"
        )
    lines.append(
        f"{'all':10s} {corpus['clips']:5d} {corpus['frames']:7d} "
        f"{corpus['mean_deg']:9.2f} {corpus['p95_deg']:8.2f}"
    )
    if args.json:
        from src.smpl.io import atomic_write

        doc = {
            "folder": str(args.folder),
            "fps": args.fps,
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "corpus": corpus,
            "skeletons": kinds,
            "clips": clips,
        }
        text = json.dumps(doc, indent=1).encode()
        atomic_write(args.json, lambda fh: fh.write(text))
        lines.append(f"wrote {args.json}")
    return "\n".join(lines)


def export(args: argparse.Namespace) -> str:
    done = export_result(args.result, args.bvh, args.fps, args.smpl_model_path, gltf_path=args.gltf)
    return (
        f"{args.result}: {done['frames']} frames at {done['fps']:g} fps, root trajectory from "
        f"{done['translation']}, body of {done['body_model']} -> "
        + ", ".join(str(p) for p in done["paths"])
    )


COMMANDS = {"retarget": retarget_one, "report": report, "export": export}


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return the exit status."""
    args = _parser().parse_args(argv)
    try:
        message = COMMANDS[args.command](args)
    except (OSError, ValueError) as err:
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 1
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(run())
