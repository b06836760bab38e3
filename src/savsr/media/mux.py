"""Joining encoded video segments and a source's other streams into one file, without re-encoding.

A resumable upscale encodes its frames in segments, each opened on a keyframe by its own
encoder. Joining copies their packets in order, with the source's audio, subtitle and
attachment streams (language and title tags and dispositions with them), its chapters, its
container tags and its display rotation, interleaved by time.

Segments are MP4 whose timescale is the video's time base: MP4 stores each packet's decoding
and presentation times exactly, where Matroska and NUT keep presentation times only and leave
a B-frame stream's first decoding times unknown.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import av

from ..errors import SavsrError
from .reader import open_container

SEGMENT_SUFFIX = ".mp4"
DEFAULT_SEGMENT_FRAMES = 250  # 10 s at 25 fps: at most that much work is redone after a crash
_COPIED_TYPES = ("audio", "subtitle", "attachment")
# Tags a muxer writes for itself; copying the source's would misdescribe the new file. A
# "timecode" tag makes the MP4 muxer build a timecode track, which fails on a copied stream.
_OWN_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "creation_time", "duration", "timecode"}


def segment_options(time_base: Fraction) -> dict[str, str]:
    """The MP4 muxer options that store timestamps in ``time_base`` exactly."""
    return {"video_track_timescale": str(time_base.denominator)}


def _seconds(packet: av.Packet) -> float:
    t = packet.dts if packet.dts is not None else packet.pts
    return float(t * packet.time_base) if t is not None else 0.0


def _video_packets(segments: list[Path], stream: av.stream.Stream) -> Iterator[av.Packet]:
    import av

    for path in segments:
        with av.open(str(path)) as seg:
            for packet in seg.demux(seg.streams.video[0]):
                if packet.size:  # the demuxer's final empty packet
                    packet.stream = stream
                    yield packet


def _span(segments: list[Path]) -> tuple[float, float]:
    """Seconds from the first frame's presentation to the end of the last frame."""
    import av

    times = []
    for path in (segments[0], segments[-1]):
        with av.open(str(path)) as seg:
            for p in seg.demux(seg.streams.video[0]):
                if p.size and p.pts is not None:
                    times.append((float(p.pts * p.time_base), float((p.pts + (p.duration or 0)) * p.time_base)))
    return min(t for t, _ in times), max(e for _, e in times)


def _source_packets(src: av.container.InputContainer, streams: dict) -> Iterator[av.Packet]:
    if not streams:
        return
    for packet in src.demux(*[src.streams[i] for i in streams]):
        if packet.size:
            yield packet


def join(segments: list[Path], dst: Path, source: Path | None, rotation: int = 0, cut: bool = False,
         name: Path | None = None) -> list[str]:
    """Write ``dst`` from the video packets of ``segments`` (in order) and the other streams of
    ``source``; returns a note for each source stream that the output's container cannot hold.

    With ``cut`` (a clip cut from the source) only the source packets from the first video frame
    to the end of the last are kept, so a clip keeps only its own sound.
    """
    import av  # FFmpeg, loaded on first use

    name = name or dst
    notes: list[str] = []
    fmt = {".m4v": "mp4"}.get(dst.suffix.lower())
    src = open_container(source) if source is not None else None
    try:
        with av.open(str(segments[0])) as first, av.open(str(dst), "w", format=fmt) as out:
            template = first.streams.video[0]
            video = out.add_stream_from_template(template)
            video.time_base = template.time_base
            if rotation:
                video.set_display_rotation(rotation)
            copied: dict[int, av.stream.Stream] = {}
            if src is not None:
                main = src.streams.video[0]
                video.metadata.update({k: v for k, v in main.metadata.items() if k not in _OWN_TAGS})
                out.metadata.update({k: v for k, v in src.metadata.items() if k not in _OWN_TAGS})
                for s in src.streams:
                    if s.index == main.index:
                        continue
                    what = f"{s.type} stream {s.index} ({s.codec_context.name if s.codec_context else s.type})"
                    if s.type not in _COPIED_TYPES:
                        notes.append(f"{what} left out: only the first video stream is upscaled")
                        continue
                    try:
                        copy = out.add_stream_from_template(s)
                    except ValueError:
                        notes.append(f"{what} left out: {dst.suffix} cannot hold it (.mkv can)")
                        continue
                    copy.metadata.update({k: v for k, v in s.metadata.items() if k not in _OWN_TAGS})
                    copy.disposition = s.disposition
                    copied[s.index] = copy
                chapters = src.chapters()
                if chapters:
                    out.set_chapters(chapters)
            span = _span(segments) if cut else None
            _interleave(out, _video_packets(segments, video), src, copied, span)
    except av.FFmpegError as exc:
        raise SavsrError(f"{name}: cannot join the encoded segments ({exc})") from None
    finally:
        if src is not None:
            src.close()
    return notes


def _interleave(out: av.container.OutputContainer, video: Iterator[av.Packet], src, copied: dict,
                span: tuple[float, float] | None) -> None:
    """Mux the video packets and the copied source packets in order of time."""
    others = (p for p in _source_packets(src, copied) if span is None or span[0] - 1e-6 <= _seconds(p) <= span[1])

    def retag(p: av.Packet) -> av.Packet:
        p.stream = copied[p.stream.index]
        return p

    # heapq.merge keeps each input's own order and takes the earlier of the two heads.
    tagged = heapq.merge(((_seconds(p), 0, p) for p in video),
                         ((_seconds(p), 1, p) for p in others), key=lambda t: (t[0], t[1]))
    for _, kind, packet in tagged:
        out.mux(packet if kind == 0 else retag(packet))
