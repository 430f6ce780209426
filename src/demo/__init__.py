"""The demo as a library: video -> person tracks -> crops -> HMMR -> files and videos.

Streaming (memory bounded by one batch of windows, whatever the video length;
docs/original_release.md §8):

1. **Tracks** (``tracks``): BlazePose on every decoded frame (``src.video.blazepose``; its
   person detector every ``detect_every`` frames and when someone is lost), or a given tracks
   file (OpenPose folder / JSON, AlphaPose / PoseFlow JSON, box CSV); people are linked into
   tracks, sorted by length; ``track_id`` picks one, ``all_tracks`` takes all.
2. **Crops** (``stream``, ``pipeline``): the original's bbox smoothing and 224x224 crops
   (``src.video.bbox``); with BlazePose, cut in the same decode pass as the tracks and spooled to
   a temporary file; with a tracks file, cut while the video is decoded a second time.
3. **Prediction** (``pipeline``, ``outputs``): ResNet features in batches and the original's
   sliding window (:class:`src.inference.predictor.Predictor`); per-frame outputs are spooled to
   ``.npy`` memory maps, then written as ``hmmr_output.npz`` (documented keys,
   ``docs/demo_outputs.md``) and the original's ``hmmr_output.pkl``, each to a temporary name and
   renamed.
4. **Rendering** (``render``, after the outputs are saved, so a rendering failure never loses
   them): the mesh over the original frames beside a side view, an mp4 at the source fps
   (``hmmr_output.mp4``), and optionally the original's 2x2 crop grid (``hmmr_output_crop.mp4``).

Single images (``image.run_image``) go through the hallucinator: past, present and future side by
side. ``options`` holds what the demo is told and returns, ``timing`` the per-stage timer,
``models`` the networks it runs, ``cli`` the command line (entry points ``demo.py`` and
``hmmr-demo``).

Importing the package is cheap: each name is imported on first use.

Without weights (no ``load_path`` and nothing at ``models/hmmr_tf2``) the networks are randomly
initialised (seeded) and every output says so: console, video banner, ``untrained`` in the npz.
"""

import importlib

# name -> module; imported on first use so that ``--help`` needs no TensorFlow
_EXPORTS = {
    "DemoError": "src.demo.options",
    "DemoOptions": "src.demo.options",
    "DemoResult": "src.demo.options",
    "FrameStore": "src.demo.outputs",
    "StageTimer": "src.demo.timing",
    "TrackResult": "src.demo.options",
    "build_parser": "src.demo.cli",
    "load_demo_models": "src.demo.models",
    "main": "src.demo.cli",
    "run_image": "src.demo.image",
    "run_video": "src.demo.pipeline",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'src.demo' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
