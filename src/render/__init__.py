"""Pictures of the predictions, NumPy and OpenCV only: used by the demo and the training summaries.

Modules (imported by name, nothing is re-exported here), lowest first:

- ``checks``: argument checks shared by the others (image sizes, vertex and face arrays).
- ``camera``: model space to renderer pixels (the weak-perspective camera) and the side view's
  rotation and framing.
- ``raster``: the NumPy z-buffer rasteriser (the nearest face at each pixel centre).
- ``mesh``: the CPU mesh renderer (``MeshRenderer``, flat NMR shading) and ``safe_render``.
- ``draw``: the HMMR skeleton, text lines and the warning banner on RGB ``uint8`` images.
- ``views``: ``FrameVisualizer``, the demo's mesh-over-frame, side-view and 2x2 crop-grid
  pictures.
"""
