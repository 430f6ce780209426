"""BVH motion files: read, forward kinematics, write.

Rotation convention (the BVH one): a joint's rotation channels are intrinsic rotations in the
order they are listed, so ``CHANNELS 3 Zrotation Yrotation Xrotation`` with angles (z, y, x) in
degrees gives ``R = R_z(z) · R_y(y) · R_x(x)``, acting on column vectors. A joint's global
rotation is its parent's global rotation times its local one (``G_child = G_parent · R_local``);
its global position is ``p_parent + G_parent · (offset + local translation channels)``. The root
(which has no parent) sits at ``offset + (Xposition, Yposition, Zposition)``. The rest pose is
all channels zero. Units are whatever the file uses (CMU's cgspeed releases are not metres; see
``src.motion.retarget``).

Reading accepts ``.bvh`` and ``.bvh.gz``, LF or CRLF, any rotation order, 3 or 6 channels on any
joint (position channels on non-root joints are translations added to the offset) and
``End Site`` blocks (kept as leaf offsets). A malformed file raises ``ValueError`` whose message
names the file, the line and what was expected.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from src.smpl.io import atomic_write

ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
MAX_JOINT_DEPTH = 256  # JOINTs nested deeper than this are refused (CMU skeletons: depth 8)
_GZ_CHUNK_BYTES = 1 << 20
MAX_BVH_BYTES = 1 << 28  # a .bvh.gz decompressing to more is refused (CMU's largest: 40 MB)
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
_AXIS = {"X": 0, "Y": 1, "Z": 2}


@dataclasses.dataclass(frozen=True)
class Bvh:
    """A BVH skeleton and its motion.

    Attributes:
        names: joint names (J,), in file order (a parent always before its children).
        parents: parent index per joint (J,), -1 for the root.
        offsets: (J, 3) offset of each joint from its parent (the root's from the origin).
        channels: per joint, its channel names in file order (e.g. ``("Zrotation", ...)``).
        frame_time: seconds per frame.
        motion: (N, C) channel values per frame, C = total channel count, joints in file order.
        end_sites: joint index -> (3,) offset of its ``End Site`` (leaves only).
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    frame_time: float
    motion: np.ndarray
    end_sites: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    def channel_start(self, joint: int) -> int:
        """Column of ``motion`` holding the first channel of ``joint``."""
        return sum(len(c) for c in self.channels[:joint])

    def index(self, name: str) -> int:
        return self.names.index(name)


# ---------------------------------------------------------------------------------------------
# Rotations


def axis_rotation(axis: str, angles_deg: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation about ``axis`` ("X", "Y" or "Z") by ``angles_deg`` (...)."""
    a = np.radians(np.asarray(angles_deg, np.float64))
    c, s = np.cos(a), np.sin(a)
    out = np.zeros(a.shape + (3, 3))
    i = _AXIS[axis]
    j, k = (i + 1) % 3, (i + 2) % 3
    out[..., i, i] = 1.0
    out[..., j, j] = c
    out[..., k, k] = c
    out[..., j, k] = -s
    out[..., k, j] = s
    return out


def euler_to_matrix(angles_deg: np.ndarray, order: str) -> np.ndarray:
    """(..., 3) angles in degrees in ``order`` (e.g. "ZYX") -> (..., 3, 3) = R_o1 · R_o2 · R_o3."""
    angles_deg = np.asarray(angles_deg, np.float64)
    rot = axis_rotation(order[0], angles_deg[..., 0])
    for n in (1, 2):
        rot = rot @ axis_rotation(order[n], angles_deg[..., n])
    return rot


def matrix_to_euler(rotmats: np.ndarray, order: str) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) degrees such that ``euler_to_matrix(out, order) == rotmats``."""
    rotmats = np.asarray(rotmats, np.float64)
    flat = Rotation.from_matrix(rotmats.reshape(-1, 3, 3)).as_euler(order.upper(), degrees=True)
    return flat.reshape(rotmats.shape[:-2] + (3,))


# ---------------------------------------------------------------------------------------------
# Reading


class _Tokens:
    """Whitespace tokens of the HIERARCHY section with their 1-based line numbers."""

    def __init__(self, lines: Sequence[str], path: Path) -> None:
        self.items = [
            (tok, n + 1)
            for n, line in enumerate(lines)
            for tok in line.replace("{", " { ").replace("}", " } ").split()
        ]
        self.pos = 0
        self.path = path
        self.last_line = len(lines)

    def fail(self, what: str, line: int | None = None) -> ValueError:
        if line is None:
            line = self.items[self.pos][1] if self.pos < len(self.items) else self.last_line
        return ValueError(f"{self.path}: line {line}: {what}")

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise self.fail(f"unexpected end of HIERARCHY, expected {what}")
        item = self.items[self.pos]
        self.pos += 1
        return item

    def expect(self, word: str) -> int:
        tok, line = self.next(f"'{word}'")
        if tok != word:
            raise self.fail(f"expected '{word}', found '{tok}'", line)
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            return float(tok)
        except ValueError:
            raise self.fail(f"expected a number ({what}), found '{tok}'", line) from None

    def peek(self) -> str | None:
        return self.items[self.pos][0] if self.pos < len(self.items) else None


def _parse_joint(
    toks: _Tokens,
    parent: int,
    joints: list[dict],
    end_sites: dict[int, np.ndarray],
    depth: int = 0,
) -> None:
    """Parse ``NAME { OFFSET ... CHANNELS ... children }`` (the ROOT/JOINT keyword consumed)."""
    if depth > MAX_JOINT_DEPTH:
        raise toks.fail(f"JOINTs nested deeper than {MAX_JOINT_DEPTH}")
    name, _ = toks.next("a joint name")
    index = len(joints)
    joint = {"name": name, "parent": parent, "offset": None, "channels": ()}
    joints.append(joint)
    toks.expect("{")
    toks.expect("OFFSET")
    joint["offset"] = [toks.number(f"OFFSET of '{name}'") for _ in range(3)]
    if toks.peek() == "CHANNELS":
        toks.next("CHANNELS")
        tok, line = toks.next("the channel count")
        if tok not in ("0", "3", "6"):
            raise toks.fail(f"'{name}': expected a channel count of 3 or 6, found '{tok}'", line)
        chans = tuple(toks.next("a channel name")[0] for _ in range(int(tok)))
        bad = [c for c in chans if c not in ROTATION_CHANNELS + POSITION_CHANNELS]
        rot = [c for c in chans if c in ROTATION_CHANNELS]
        if bad or len(set(chans)) != len(chans) or len(rot) not in (0, 3):
            raise toks.fail(
                f"'{name}': bad channels {' '.join(chans)} (expected 3 distinct rotations "
                "X/Y/Zrotation, optionally 3 X/Y/Zposition)",
                line,
            )
        joint["channels"] = chans
    while True:
        tok, line = toks.next(f"JOINT, End Site or '}}' in '{name}'")
        if tok == "}":
            return
        if tok == "JOINT":
            _parse_joint(toks, index, joints, end_sites, depth + 1)
        elif tok == "End":
            toks.expect("Site")
            toks.expect("{")
            toks.expect("OFFSET")
            end_sites[index] = np.array([toks.number("End Site OFFSET") for _ in range(3)])
            toks.expect("}")
        else:
            raise toks.fail(f"expected JOINT, End Site or '}}' in '{name}', found '{tok}'", line)


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: BVH file not found")
    try:
        if path.suffix == ".gz":  # in chunks: a small .gz may inflate to anything
            with gzip.open(path, "rb") as fh:
                chunks, size = [], 0
                while size <= MAX_BVH_BYTES and (chunk := fh.read(_GZ_CHUNK_BYTES)):
                    chunks.append(chunk)
                    size += len(chunk)
                raw = b"".join(chunks)
        else:
            raw = path.read_bytes()
        if len(raw) > MAX_BVH_BYTES:
            raise ValueError(f"{path}: more than {MAX_BVH_BYTES} bytes of BVH text")
        return raw.decode("ascii")
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as err:
        raise ValueError(f"{path}: not a readable BVH text file ({err})") from None


def _header_value(line: str, key: str, path: Path, n: int) -> str:
    head, _, value = line.partition(":")
    if head.strip().lower() != key.lower() or not value.strip():
        raise ValueError(f"{path}: line {n}: expected '{key}: <value>', found '{line.strip()}'")
    return value.strip()


def _parse_motion(lines: Sequence[str], start: int, num_channels: int, path: Path) -> tuple:
    """(frame_time, motion (N, C)) from the lines after ``MOTION`` (``start`` = its index)."""
    if start + 2 >= len(lines):
        raise ValueError(f"{path}: line {start + 1}: MOTION needs 'Frames:' and 'Frame Time:'")
    frames_txt = _header_value(lines[start + 1], "Frames", path, start + 2)
    time_txt = _header_value(lines[start + 2], "Frame Time", path, start + 3)
    try:
        num_frames = int(frames_txt)
        frame_time = float(time_txt)
    except ValueError:
        raise ValueError(
            f"{path}: line {start + 2}: bad 'Frames: {frames_txt}' / 'Frame Time: {time_txt}'"
        ) from None
    if num_frames < 1 or not frame_time > 0:
        raise ValueError(f"{path}: line {start + 2}: expected Frames >= 1 and Frame Time > 0")
    rows = [(n + 1, line) for n, line in enumerate(lines[start + 3 :], start + 3) if line.strip()]
    if len(rows) != num_frames:
        raise ValueError(f"{path}: 'Frames: {num_frames}' but {len(rows)} motion lines follow")
    try:
        values = np.array(" ".join(line for _, line in rows).split(), dtype=np.float64)
    except ValueError:
        values = None
    if values is None or values.size != num_frames * num_channels:
        for n, line in rows:  # find the offending line
            fields = line.split()
            if len(fields) != num_channels:
                raise ValueError(
                    f"{path}: line {n}: {len(fields)} values, expected {num_channels} channels"
                ) from None
            try:
                [float(f) for f in fields]
            except ValueError:
                raise ValueError(f"{path}: line {n}: non-numeric motion value") from None
        if values is None or values.size != num_frames * num_channels:
            raise ValueError(f"{path}: motion values are not {num_channels} numbers per frame")
    motion = values.reshape(num_frames, num_channels)
    if not np.all(np.isfinite(motion)):
        raise ValueError(f"{path}: motion holds NaN or infinite values")
    return frame_time, motion


def read_bvh(path: str | os.PathLike) -> Bvh:
    """Read a ``.bvh`` or ``.bvh.gz`` file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: malformed file (the message names the file, the line and what is wrong).
    """
    path = Path(path)
    lines = _read_text(path).splitlines()
    first = next((n for n, line in enumerate(lines) if line.strip()), None)
    if first is None or lines[first].strip() != "HIERARCHY":
        raise ValueError(f"{path}: line {(first or 0) + 1}: expected 'HIERARCHY' to start a BVH")
    motion_at = next((n for n, line in enumerate(lines) if line.strip() == "MOTION"), None)
    if motion_at is None:
        raise ValueError(f"{path}: no 'MOTION' section")
    toks = _Tokens([""] * (first + 1) + lines[first + 1 : motion_at], path)
    joints: list[dict] = []
    end_sites: dict[int, np.ndarray] = {}
    toks.expect("ROOT")
    _parse_joint(toks, -1, joints, end_sites)
    if toks.peek() is not None:
        raise toks.fail(f"expected 'MOTION' after the root joint, found '{toks.peek()}'")
    names = tuple(j["name"] for j in joints)
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: joint names are not unique")
    offsets = np.array([j["offset"] for j in joints], np.float64)
    if not np.isfinite(offsets).all() or not all(np.isfinite(s).all() for s in end_sites.values()):
        raise ValueError(f"{path}: OFFSET holds NaN or infinite values")
    channels = tuple(j["channels"] for j in joints)
    frame_time, motion = _parse_motion(lines, motion_at, sum(len(c) for c in channels), path)
    return Bvh(
        names=names,
        parents=tuple(j["parent"] for j in joints),
        offsets=offsets,
        channels=channels,
        frame_time=frame_time,
        motion=motion,
        end_sites=end_sites,
    )


# ---------------------------------------------------------------------------------------------
# Forward kinematics


def local_transforms(bvh: Bvh) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame local rotations (N, J, 3, 3) and translations (N, J, 3) (offset + positions)."""
    n = bvh.num_frames
    rots = np.broadcast_to(np.eye(3), (n, bvh.num_joints, 3, 3)).copy()
    trans = np.broadcast_to(bvh.offsets, (n, bvh.num_joints, 3)).copy()
    col = 0
    for j, chans in enumerate(bvh.channels):
        values = bvh.motion[:, col : col + len(chans)]
        col += len(chans)
        rot_cols = [k for k, c in enumerate(chans) if c in ROTATION_CHANNELS]
        if rot_cols:
            order = "".join(chans[k][0] for k in rot_cols)
            rots[:, j] = euler_to_matrix(values[:, rot_cols], order)
        for k, c in enumerate(chans):
            if c in POSITION_CHANNELS:
                trans[:, j, _AXIS[c[0]]] += values[:, k]
    return rots, trans


def forward_kinematics(bvh: Bvh) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions (N, J, 3) and rotations (N, J, 3, 3), in the file's units."""
    rots, trans = local_transforms(bvh)
    glob_rot = np.empty_like(rots)
    glob_pos = np.empty_like(trans)
    for j, p in enumerate(bvh.parents):
        if p < 0:
            glob_rot[:, j] = rots[:, j]
            glob_pos[:, j] = trans[:, j]
        else:
            glob_rot[:, j] = glob_rot[:, p] @ rots[:, j]
            glob_pos[:, j] = glob_pos[:, p] + np.einsum("nab,nb->na", glob_rot[:, p], trans[:, j])
    return glob_pos, glob_rot


def rest_positions(bvh: Bvh) -> np.ndarray:
    """(J, 3) global joint positions with every channel zero (the skeleton's rest pose)."""
    pos = np.zeros((bvh.num_joints, 3))
    for j, p in enumerate(bvh.parents):
        pos[j] = bvh.offsets[j] + (pos[p] if p >= 0 else 0.0)
    return pos


# ---------------------------------------------------------------------------------------------
# Writing


def make_bvh(
    names: Sequence[str],
    parents: Sequence[int],
    offsets: np.ndarray,
    local_rotations: np.ndarray,
    root_positions: np.ndarray,
    frame_time: float,
    order: str = "ZYX",
    end_sites: dict[int, np.ndarray] | None = None,
) -> Bvh:
    """A :class:`Bvh` from local rotations: root with 6 channels, other joints 3, ``order``.

    Args:
        offsets: (J, 3) joint offsets from their parents (the root's: usually zero).
        local_rotations: (N, J, 3, 3).
        root_positions: (N, 3) root position channels (the root sits at offset + these).
        order: rotation channel order, e.g. "ZYX" or "XYZ".
        end_sites: leaf joint -> End Site offset; other leaves get a zero End Site.
    """
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise ValueError(f"rotation order must be a permutation of XYZ, got '{order}'")
    local_rotations = np.asarray(local_rotations, np.float64)
    num_frames, num_joints = local_rotations.shape[:2]
    rot_chans = tuple(f"{a}rotation" for a in order)
    channels = tuple(POSITION_CHANNELS + rot_chans if p < 0 else rot_chans for p in parents)
    euler = matrix_to_euler(local_rotations, order)  # (N, J, 3)
    cols = [np.asarray(root_positions, np.float64).reshape(num_frames, 3)]
    cols += [euler[:, j] for j in range(num_joints)]
    has_child = {p for p in parents if p >= 0}
    sites = {j: np.zeros(3) for j in range(num_joints) if j not in has_child}
    sites.update({j: np.asarray(v, np.float64) for j, v in (end_sites or {}).items()})
    return Bvh(
        names=tuple(names),
        parents=tuple(int(p) for p in parents),
        offsets=np.asarray(offsets, np.float64).reshape(num_joints, 3),
        channels=channels,
        frame_time=float(frame_time),
        motion=np.concatenate(cols, axis=1),
        end_sites=sites,
    )


def _fmt(values: np.ndarray, precision: int) -> str:
    return " ".join(f"{v:.{precision}f}" for v in values)


def bvh_text(bvh: Bvh, precision: int = 6) -> str:
    """The file text of ``bvh`` (LF line endings, tab indents).

    Joints are written depth first (children in index order), which is the order reading the
    file back gives; motion columns follow it.
    """
    children: dict[int, list[int]] = {j: [] for j in range(bvh.num_joints)}
    for j, p in enumerate(bvh.parents):
        if p >= 0:
            children[p].append(j)
    out = ["HIERARCHY"]
    order: list[int] = []  # joints in file (depth-first) order

    def emit(j: int, depth: int) -> None:
        order.append(j)
        pad = "\t" * depth
        keyword = "ROOT" if bvh.parents[j] < 0 else "JOINT"
        out.append(f"{pad}{keyword} {bvh.names[j]}")
        out.append(f"{pad}{{")
        out.append(f"{pad}\tOFFSET {_fmt(bvh.offsets[j], precision)}")
        if bvh.channels[j]:
            out.append(f"{pad}\tCHANNELS {len(bvh.channels[j])} {' '.join(bvh.channels[j])}")
        for c in children[j]:
            emit(c, depth + 1)
        if j in bvh.end_sites:
            out.append(f"{pad}\tEnd Site")
            out.append(f"{pad}\t{{")
            out.append(f"{pad}\t\tOFFSET {_fmt(bvh.end_sites[j], precision)}")
            out.append(f"{pad}\t}}")
        out.append(f"{pad}}}")

    roots = [j for j, p in enumerate(bvh.parents) if p < 0]
    if len(roots) != 1 or any(p >= j for j, p in enumerate(bvh.parents) if p >= 0):
        raise ValueError("a BVH needs one root and parents listed before their children")
    emit(roots[0], 0)
    out += ["MOTION", f"Frames: {bvh.num_frames}", f"Frame Time: {bvh.frame_time:.8f}"]
    columns = np.concatenate(
        [np.arange(len(bvh.channels[j])) + bvh.channel_start(j) for j in order]
    ).astype(int)
    out += [_fmt(row, precision) for row in bvh.motion[:, columns]]
    return "\n".join(out) + "\n"


def write_bvh(path: str | os.PathLike, bvh: Bvh, precision: int = 6) -> Path:
    """Write ``bvh`` to ``path`` (gzip-compressed when it ends in ``.gz``) atomically."""
    data = bvh_text(bvh, precision).encode("ascii")
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    return atomic_write(path, lambda fh: fh.write(data))
