"""Single images (``--img_path``) through the hallucinator: present, past (-5) and future (+5)
bodies from one image, saved with the same keys as for videos plus a past | present | future
picture (``hmmr_hallucination.png``)."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from src import constants
from src.demo.models import banner_text, load_demo_models
from src.demo.options import (
    HALLUCINATION_IMAGE,
    OUTPUT_NAME,
    DemoError,
    DemoOptions,
    DemoResult,
    TrackResult,
    check_input,
    prepare_out_dir,
    remove_empty_folders,
)
from src.demo.outputs import (
    crop_record,
    derived_outputs,
    metadata,
    save_bvh,
    save_outputs,
    without_vertices,
)
from src.demo.render import hallucination_panel, write_png
from src.demo.timing import StageTimer
from src.demo.tracks import read_track_file
from src.inference.export import body_outputs
from src.inference.models import InferenceModels
from src.video import tracks as tracks_lib
from src.video.bbox import box_to_bbox_param, crop_frame, keypoints_to_bbox_param
from src.video.blazepose import PoseEstimator
from src.video.io import read_image


def image_person_bbox(image: np.ndarray, path: Path, options: DemoOptions) -> np.ndarray:
    """``(cx, cy, scale)`` of the most confident person in an image.

    From ``--tracks_json`` (its first frame) if given, else BlazePose; without the BlazePose
    models, the whole image (HMR's rule: longer side scaled to 224) with a warning.

    Raises:
        DemoError: nobody found.
    """
    if options.tracks_json:
        people = read_track_file(options.tracks_json, options.tracks_format, 1)[0]
    else:
        try:
            estimator = PoseEstimator()
        except FileNotFoundError as err:
            print(f"warning: {err}; using the whole image as the person's box", file=sys.stderr)
            height, width = image.shape[:2]
            return np.array([width / 2.0, height / 2.0, constants.IMG_SIZE / max(height, width)])
        people = tracks_lib.detections_from_poses(estimator(image))
    for det in sorted(people, key=lambda d: -d.score):
        param = keypoints_to_bbox_param(det.keypoints) if det.has_keypoints else None
        param = param if param is not None else box_to_bbox_param(det.box)
        if param is not None:
            return param
    raise DemoError(f"{path}: no person found in the image")


def run_image(
    path: str | os.PathLike,
    options: DemoOptions,
    models: InferenceModels | None = None,
    created: list[Path] | None = None,
) -> DemoResult:
    """Single-image hallucination: present, past (-5) and future (+5) bodies from one image.

    Writes ``hmmr_output.npz`` / ``.pkl`` (one frame, the same keys as for videos), with
    ``--bvh`` a one-frame ``hmmr_output.bvh``, and ``hmmr_hallucination.png``. The output folder
    is checked first; ``created``: the folders the caller already made for it (removed, if
    still empty, when the run fails).
    """
    path = Path(path)
    created = list(created or [])
    try:
        check_input(path, "--img_path")
        image = read_image(path)
        created += prepare_out_dir(options.out_dir)
        models = models or load_demo_models(options)
        timer = StageTimer()
        with timer.stage("pose", frames=1):
            cx, cy, scale = image_person_bbox(image, path, options)
    except BaseException:
        remove_empty_folders(created)
        raise
    with timer.stage("crop", frames=1):
        crop, params = crop_frame(image, np.array([cx, cy]), float(scale))
    with timer.stage("features", frames=1):
        phi = models.resnet(crop[None], training=False)
    with timer.stage("regress", frames=1):
        out = models.model.predict_single(phi)
        body = body_outputs(models.smpl, out["theta"], out["theta_delta"], with_verts=True)
        body = {key: value.numpy() for key, value in body.items()}
    arrays = dict(body) if options.save_verts else without_vertices(body)
    arrays.update(crop_record(0, cx, cy, scale, params.start_pt))
    img_size = image.shape[:2]
    focal = options.focal_px or float(max(img_size))
    arrays.update(derived_outputs(arrays, img_size, focal))
    out_dir = options.out_dir / path.stem / OUTPUT_NAME
    image_options = dataclasses.replace(options, pred_mode="hal")
    meta = metadata(path, img_size, 0.0, focal, models, image_options, 0, 0)
    npz, pkl = save_outputs(arrays, meta, out_dir, options.write_pkl)
    result = TrackResult(0, 0, 0, 1, out_dir, npz, pkl)
    if options.bvh:  # one frame: written at 30 fps (src.motion.export.STILL_FPS)
        result.bvh = save_bvh(arrays, meta, out_dir, models.body_model)
    picture = None
    if options.render:
        try:
            with timer.stage("render", frames=1):
                panel = hallucination_panel(
                    models, crop, body, banner_text(models), options.mesh_color
                )
                picture = write_png(out_dir / HALLUCINATION_IMAGE, panel)
        except Exception as err:  # noqa: BLE001 - outputs are saved; the picture is optional
            print(f"warning: rendering failed ({err}); outputs in {out_dir}", file=sys.stderr)
    return DemoResult(
        path, [result], timer, models.untrained, image=picture, num_tracks=1, num_frames=1,
        person_box=(float(cx), float(cy), float(scale)), created=created,
    )  # fmt: skip
