"""Pictures of the predictions, NumPy and OpenCV only: used by the demo and the training summaries.

Modules (imported by name, nothing is re-exported here):

- ``mesh``: the CPU mesh rasteriser (``MeshRenderer``, ``safe_render``) and ``FrameVisualizer``,
  the demo's mesh-over-frame, side-view and 2x2 crop-grid pictures.
- ``draw``: the HMMR skeleton, text lines and the warning banner on RGB ``uint8`` images.
"""
