"""Geometry core: weak-perspective projection, optimal camera, Procrustes, flips, cameras.

Submodules: ``projection``, ``procrustes``, ``flip``, ``camera`` (see docs/DESIGN.md).
"""

from src.geometry import camera, flip, procrustes, projection
from src.geometry.camera import approx_translation, crop_cam_to_original
from src.geometry.flip import flip_keypoints, reflect_joints3d, reflect_pose
from src.geometry.procrustes import similarity_procrustes, similarity_procrustes_tf
from src.geometry.projection import (
    optimal_camera,
    optimal_camera_np,
    project_weak_perspective,
)

__all__ = [
    "approx_translation",
    "camera",
    "crop_cam_to_original",
    "flip",
    "flip_keypoints",
    "optimal_camera",
    "optimal_camera_np",
    "procrustes",
    "project_weak_perspective",
    "projection",
    "reflect_joints3d",
    "reflect_pose",
    "similarity_procrustes",
    "similarity_procrustes_tf",
]
