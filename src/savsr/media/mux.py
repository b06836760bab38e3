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
from .writer import BITEXACT

SEGMENT_SUFFIX = ".mp4"
DEFAULT_SEGMENT_FRAMES = 250  # 10 s at 25 fps: at most that much work is redone after a crash
_COPIED_TYPES = ("audio", "subtitle", "attachment")
# Tags a muxer writes for itself; copying the source's would misdescribe the new file. A
# "timecode" tag makes the MP4 muxer build a timecode track, which fails on a copied stream.
_OWN_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "creation_time", "duration", "timecode"}
# Text subtitles that MP4/MOV cannot hold as they are, converted to their own text format (3GPP
# Timed Text) instead of being left out. Bitmap subtitles (PGS, DVD) have no MP4 form.
_TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "webvtt", "text"}
_MP4_FAMILY = {".mp4", ".m4v", ".mov"}


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
         name: Path | None = None, retimed: bool = False) -> list[str]:
    """Write ``dst`` from the video packets of ``segments`` (in order) and the other streams of
    ``source``; returns a note for each source stream that the output's container cannot hold.

    With ``cut`` (a clip cut from the source) only the source packets from the first video frame
    to the end of the last are kept, so a clip keeps only its own sound. With ``retimed`` (the
    video was given a new frame rate) the source's other streams and chapters would be out of
    sync: each is left out with a note.
    """
    import av  # FFmpeg, loaded on first use

    name = name or dst
    notes: list[str] = []
    fmt = {".m4v": "mp4"}.get(dst.suffix.lower())
    src = open_container(source) if source is not None else None
    try:
        with av.open(str(segments[0])) as first, av.open(str(dst), "w", format=fmt, options=BITEXACT) as out:
            template = first.streams.video[0]
            video = out.add_stream_from_template(template)
            video.time_base = template.time_base
            if template.average_rate:
                # The rate a stream copy keeps (ffmpeg does the same): Matroska's default duration comes
                # from it, and without one readers take the H.264 timing info, which says 1/time base.
                video.codec_context.framerate = template.average_rate
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
                    if retimed:
                        notes.append(f"{what} left out: --fps gives the video new timing, which it would not follow")
                        continue
                    try:
                        copy = out.add_stream_from_template(s)
                    except ValueError:
                        copy = _mov_text(out, s) if dst.suffix.lower() in _MP4_FAMILY else None
                        if copy is None:
                            notes.append(f"{what} left out: {dst.suffix} cannot hold it (.mkv can)")
                            continue
                        notes.append(f"{what} converted to mov_text, the subtitle format {dst.suffix} holds "
                                     "(styling dropped; a cue ends where the next begins)")
                    copy.metadata.update({k: v for k, v in s.metadata.items() if k not in _OWN_TAGS})
                    copy.disposition = s.disposition
                    copied[s.index] = copy
                chapters = [] if retimed else src.chapters()
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


def _mov_text(out: av.container.OutputContainer, s: av.stream.Stream) -> av.stream.Stream | None:
    """A mov_text stream of ``out`` for the text subtitle stream ``s`` (None if ``s`` is not text)."""
    name = s.codec_context.name if s.codec_context else ""
    if s.type != "subtitle" or name not in _TEXT_SUBTITLES:
        return None
    decoder = s.codec_context
    if not decoder.is_open:
        decoder.open()  # which fills the ASS header that the encoder needs
    stream = out.add_stream("mov_text")
    stream.time_base = s.time_base
    stream.codec_context.time_base = s.time_base
    stream.codec_context.subtitle_header = decoder.subtitle_header
    return stream


def _interleave(out: av.container.OutputContainer, video: Iterator[av.Packet], src, copied: dict,
                span: tuple[float, float] | None) -> None:
    """Mux the video packets and the copied source packets in order of time; a text subtitle
    packet bound for a mov_text stream is decoded and encoded again on its way."""
    others = (p for p in _source_packets(src, copied) if span is None or span[0] - 1e-6 <= _seconds(p) <= span[1])

    def retag(p: av.Packet) -> av.Packet | None:
        target = copied[p.stream.index]
        if target.codec_context.name == "mov_text" and p.stream.codec_context.name != "mov_text":
            cue = p.stream.codec_context.decode2(p)
            if cue is None:  # a packet the decoder could not read: the cue is lost, not the file
                return None
            converted = target.codec_context.encode_subtitle(cue)
            converted.pts, converted.dts, converted.duration = p.pts, p.pts, p.duration
            converted.time_base = p.time_base
            p = converted
        p.stream = target
        return p

    # heapq.merge keeps each input's own order and takes the earlier of the two heads.
    tagged = heapq.merge(((_seconds(p), 0, p) for p in video),
                         ((_seconds(p), 1, p) for p in others), key=lambda t: (t[0], t[1]))
    for _, kind, packet in tagged:
        packet = packet if kind == 0 else retag(packet)
        if packet is not None:
            out.mux(packet)
