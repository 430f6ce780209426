"""The demo's command line (``python demo.py``, ``hmmr-demo``): flags -> :class:`DemoOptions` ->
:func:`~src.demo.pipeline.run_video` / :func:`~src.demo.image.run_image`, one report per input;
errors are one line on stderr and exit status 1."""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from src import constants
from src.demo.options import (
    DEFAULT_RENDER_MAX_SIDE,
    DEFAULT_SEED,
    DETECT_EVERY,
    MIN_TRACK_FRAMES,
    PRED_MODES,
    TRACK_FORMATS,
    DemoOptions,
    DemoResult,
    RenderInterrupted,
    list_videos,
    prepare_out_dir,
    remove_empty_folders,
)

# TensorFlow's C++ start-up lines: "I0000 00:00:1796540070.829515   31325 port.cc:153] text"
_TF_LOG_PREFIX = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ ")


def build_parser(prog: str = "demo.py") -> argparse.ArgumentParser:
    """The demo's flags (the original's names where it had them)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="HMMR on a video (or an image): 3D bodies per frame, files and an overlay "
        "video. Outputs: docs/demo_outputs.md.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--vid_path", help="a video file (or a folder of frames)")
    source.add_argument("--vid_dir", help="a folder of videos: each one is processed")
    source.add_argument("--img_path", help="one image: past / present / future (hallucinator)")
    source.add_argument(
        "--camera",
        type=int,
        metavar="INDEX",
        help="live: a camera (OpenCV index, 0 = the first); frames are processed as they arrive "
        "and each prediction is emitted once final: 6 to 13 frames after its frame arrived "
        "(the sliding window's look-ahead), plus compute. Ctrl-C stops and saves",
    )
    source.add_argument(
        "--stream",
        metavar="URL_OR_FILE",
        help="live, as --camera, from a stream URL (rtsp://, http://) or a video file",
    )
    p.add_argument(
        "--load_path",
        help="weights folder (default models/hmmr_tf2 if present; "
        "otherwise UNTRAINED random weights)",
    )
    p.add_argument(
        "--smpl_model_path",
        help="body model (default models/neutral_smpl_with_"
        "cocoplustoesankles_reg.pkl if present, else the generated stand-in)",
    )
    p.add_argument("--out_dir", default="demo_output", help="output root (default demo_output)")
    who = p.add_mutually_exclusive_group()
    who.add_argument(
        "--track_id",
        type=int,
        default=0,
        help="rank of the person, tracks sorted by length (0 = longest)",
    )
    who.add_argument("--all_tracks", action="store_true", help="process every person track")
    p.add_argument(
        "--tracks_json",
        help="given tracks instead of BlazePose: an OpenPose JSON "
        "folder/file, an AlphaPose/PoseFlow JSON, or a box CSV",
    )
    p.add_argument(
        "--tracks_format",
        default="auto",
        choices=TRACK_FORMATS,
        help="format of --tracks_json (default: from the file)",
    )
    p.add_argument(
        "--min_track_frames",
        type=int,
        default=MIN_TRACK_FRAMES,
        help="drop shorter tracks (20; at most half the clip for short clips)",
    )
    p.add_argument(
        "--detect_every",
        type=int,
        default=DETECT_EVERY,
        help="BlazePose: with people followed from frame to frame, run its person detector on "
        "one frame in N (and whenever someone is lost); 1: every frame (default 10)",
    )
    p.add_argument(
        "--pred_mode",
        default="pred",
        choices=PRED_MODES,
        help="pred: temporal model; hal: hallucinator per frame; const: baseline",
    )
    p.add_argument("--no_render", action="store_true", help="write the output files only")
    p.add_argument(
        "--crop_grid", action="store_true", help="also write the original's 2x2 crop grid video"
    )
    p.add_argument(
        "--trim",
        action="store_true",
        help="drop the 6 frames with padded context at each end of the videos",
    )
    p.add_argument(
        "--save_verts",
        action="store_true",
        help="store mesh vertices (verts, verts_delta): 83 kB per frame and body",
    )
    p.add_argument("--no_pkl", action="store_true", help="skip the original's hmmr_output.pkl")
    p.add_argument(
        "--bvh",
        action="store_true",
        help="also write hmmr_output.bvh per track: the motion on the body model's 24-joint "
        "skeleton, Y up, metres, for animation tools such as Blender (docs/demo_outputs.md)",
    )
    p.add_argument("--max_frames", type=int, default=0, help="process only the first N frames")
    p.add_argument(
        "--sequence_length",
        type=int,
        default=constants.SEQUENCE_LENGTH,
        help="window length T (20)",
    )
    p.add_argument("--batch_size", type=int, default=8, help="windows per forward pass (8)")
    p.add_argument("--fps", type=float, help="frame rate of a folder of frames (default 25)")
    p.add_argument(
        "--focal_px",
        type=float,
        help="focal length in frame pixels for the translation (default max(H, W))",
    )
    p.add_argument("--mesh_color", default="blue", help="mesh colour name (blue, pink, ...)")
    p.add_argument(
        "--render_max_side",
        type=int,
        default=DEFAULT_RENDER_MAX_SIDE,
        help="render on frames downscaled to this longer side (720)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="seed of the untrained initialisation",
    )
    p.add_argument(
        "--precision",
        default=constants.DEFAULT_PRECISION,
        choices=constants.PRECISIONS,
        help="arithmetic of the ResNet features: float32 (default, the original's numbers) or "
        "bfloat16 (faster on CPUs with AMX / AVX-512 BF16 and on GPU tensor cores; features "
        "within about 0.5%%, docs/benchmarks.md)",
    )
    p.add_argument("--no_progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--realtime",
        action="store_true",
        help="with --stream FILE: read at the file's fps, as a camera delivers frames (none "
        "dropped; the report says how far behind processing fell)",
    )
    p.add_argument(
        "--show", action="store_true", help="live: also show the overlay in a window (q stops)"
    )
    return p


def options_from_args(args: argparse.Namespace) -> DemoOptions:
    return DemoOptions(
        out_dir=Path(args.out_dir), load_path=args.load_path,
        smpl_model_path=args.smpl_model_path, track_id=args.track_id,
        all_tracks=args.all_tracks, tracks_json=args.tracks_json,
        tracks_format=args.tracks_format, min_track_frames=args.min_track_frames,
        detect_every=args.detect_every,
        render=not args.no_render, crop_grid=args.crop_grid, trim=args.trim,
        pred_mode=args.pred_mode, save_verts=args.save_verts, write_pkl=not args.no_pkl,
        bvh=args.bvh,
        sequence_length=args.sequence_length, batch_size=args.batch_size,
        max_frames=args.max_frames, fps=args.fps, focal_px=args.focal_px,
        mesh_color=args.mesh_color, render_max_side=args.render_max_side, seed=args.seed,
        progress=not args.no_progress, precision=args.precision,
    )  # fmt: skip


def _report(result: DemoResult) -> None:
    name = result.input
    if result.person_box is not None:  # a single image: no tracks
        cx, cy, scale = result.person_box
        print(
            f"{name}: person at box centre ({cx:.0f}, {cy:.0f}) px, "
            f"{constants.IMG_SIZE / scale:.0f} px crop side"
        )
    else:
        chosen = ", ".join(str(t.rank) for t in result.tracks)
        print(
            f"{name}: {result.num_tracks} person track(s) found in {result.num_frames} frames; "
            f"processing track {chosen} (0 = longest, --track_id / --all_tracks)"
        )
    for track in result.tracks:
        files = [track.npz, track.pkl, track.bvh, track.video, track.crop_video, result.image]
        listed = ", ".join(str(f) for f in files if f is not None)
        if result.person_box is not None:
            print(f"{name}: {listed}")
            continue
        last = track.first_frame + track.num_frames - 1
        print(
            f"{name}: track {track.rank} (id {track.track_id}), frames "
            f"{track.first_frame}-{last} ({track.num_frames} of {result.num_frames}): {listed}"
        )
    stages = ", ".join(f"{k} {v['fps']:.1f} fps" for k, v in result.timer.summary().items())
    if stages:
        print(f"{name}: speed per stage: {stages}")
    if result.untrained:
        print(f"{name}: NOTE: UNTRAINED weights; these bodies are not predictions")


def _run_live(args: argparse.Namespace, options: DemoOptions, prog: str) -> int:
    """``--camera`` / ``--stream``: :func:`src.demo.live.run_live` and its report."""
    from src.demo.live import has_display, run_live

    if args.show and not has_display():
        print(f"{prog}: warning: no display (DISPLAY unset): --show is ignored", file=sys.stderr)
    source = args.camera if args.camera is not None else args.stream
    result = run_live(source, options, realtime=args.realtime, show=args.show)
    name = result.source
    stopped = " (stopped by Ctrl-C / q)" if result.interrupted else ""
    print(
        f"{name}: {result.num_frames} frames read in {result.seconds:.1f} s "
        f"({result.num_frames / max(result.seconds, 1e-9):.1f} fps){stopped}; "
        f"{result.num_predicted} predicted"
    )
    latency = result.latency.summary()
    if latency:
        print(
            f"{name}: latency arrival -> prediction: mean {latency['latency_s_mean']:.2f} s, "
            f"95% {latency['latency_s_p95']:.2f} s, max {latency['latency_s_max']:.2f} s "
            f"(at most {latency['frames_after_max']} frames of look-ahead)"
        )
    stages = ", ".join(f"{k} {v['fps']:.1f} fps" for k, v in result.timer.summary().items())
    if stages:
        print(f"{name}: speed per stage: {stages}")
    if args.realtime:
        print(
            f"{name}: --realtime: reading fell behind the file's clock by up to "
            f"{result.latency.max_behind_s:.2f} s ({result.latency.end_behind_s:.2f} s at the end)"
        )
    files = [f for f in (result.npz, result.pkl, result.video) if f is not None]
    if files:
        print(f"{name}: {', '.join(map(str, files))}")
    else:
        print(f"{name}: no person was found: nothing predicted")
    if result.untrained:
        print(f"{name}: NOTE: UNTRAINED weights; these bodies are not predictions")
    return 0


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def import_tensorflow_once() -> None:
    """Import TensorFlow with each of its C++ start-up log lines written once.

    TensorFlow's shared libraries each log "oneDNN custom operations are on" (and absl's
    "before InitializeLog" notice) straight to file descriptor 2 while it is imported, so every
    line came twice. They are caught in a temporary file and written back without repeats
    (the timestamp and thread id are ignored when comparing).
    """
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured): plain import
        import tensorflow  # noqa: F401

        return
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), fd)
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode(errors="replace").splitlines()
    seen: set[str] = set()
    for line in lines:
        key = _TF_LOG_PREFIX.sub("", line)
        if key not in seen:
            seen.add(key)
            print(line, file=sys.stderr)


def main(argv: Sequence[str] | None = None, prog: str = "demo.py") -> int:
    """The demo command line; returns the exit status (errors: one line on stderr, status 1).

    The flags are parsed and the output folder checked before TensorFlow is imported, so that
    ``--help`` and argument errors answer at once.
    """
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    live = args.camera is not None or args.stream
    if not live and (args.realtime or args.show):
        parser.error("--realtime and --show go with --camera / --stream")
    offline_only = {
        "--tracks_json": args.tracks_json, "--all_tracks": args.all_tracks,
        "--crop_grid": args.crop_grid, "--trim": args.trim, "--bvh": args.bvh,
    }  # fmt: skip
    given = [flag for flag, value in offline_only.items() if value]
    if live and given:
        parser.error(f"{', '.join(given)}: not available with --camera / --stream")
    if args.realtime and args.camera is not None:
        parser.error("--realtime paces a file (--stream); a camera is real time already")
    try:
        options = options_from_args(args)
        if args.vid_dir:  # the folder is checked before the output folder is made
            videos = list_videos(args.vid_dir)
        created = prepare_out_dir(options.out_dir)
        import_tensorflow_once()
        from src.demo.image import run_image
        from src.demo.models import load_demo_models
        from src.demo.pipeline import run_video

        if args.camera is not None or args.stream:
            return _run_live(args, options, prog)
        if args.img_path:
            _report(run_image(args.img_path, options, created=created))
            return 0
        if args.vid_path:
            _report(run_video(args.vid_path, options, created=created))
            return 0
        models = load_demo_models(options)
        failed = 0
        for video in videos:
            try:
                _report(run_video(video, options, models))
            except (OSError, ValueError) as err:
                failed += 1
                print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        if failed:
            remove_empty_folders(created)  # only those this run made, and only when empty
        return 1 if failed else 0
    except (OSError, ValueError) as err:
        print(f"{prog}: error: {_one_line(err)}", file=sys.stderr)
        return 1
    except RenderInterrupted as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
