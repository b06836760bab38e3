"""Scene cuts in a stream of frames, found as the frames come: where a recurrent generator's
memory of one shot must not carry into the next (issue #52).

PySceneDetect's content detector: the mean change of hue, saturation and value between
consecutive frames against a threshold (27 on its 0-255 scale, its default), with a cut then
suppressed for ``min_scene_len`` frames so that a flash or a fast pan does not cut twice. Its
SUPPRESS mode decides at the frame itself, where the default (MERGE) may name a cut frames later.
"""

from __future__ import annotations

import numpy as np

THRESHOLD = 27.0  # PySceneDetect's default for its content detector
MIN_SCENE_LEN = 8  # frames


class SceneCuts:
    """Call it with each frame in order, (H, W, 3) uint8 RGB (an LR frame is enough): whether
    that frame starts a new shot. The first frame does not."""

    def __init__(self, threshold: float = THRESHOLD, min_scene_len: int = MIN_SCENE_LEN) -> None:
        from scenedetect.detectors import ContentDetector
        from scenedetect.scene_detector import FlashFilter

        self._detector = ContentDetector(threshold, min_scene_len, filter_mode=FlashFilter.Mode.SUPPRESS)
        self._index = 0

    def __call__(self, frame: np.ndarray) -> bool:
        index, self._index = self._index, self._index + 1
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB frame, got {frame.shape} {frame.dtype}")
        cuts = self._detector.process_frame(index, np.ascontiguousarray(frame[..., ::-1]))  # it reads BGR
        return index in cuts
