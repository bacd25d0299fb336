"""Video analysis without Django: read a video safely, sample it, track and embed its faces.

``analyse_video(path, ...)`` is the entry point; see ``analysis`` for how it spends its time and
``reader`` for what it accepts. The check runner (``matching.services.video``) and ``manage.py
scan`` call it and hand the tracks' embeddings to the matching service.
"""

from matching.video.analysis import (
    DEFAULT_SAMPLE_EVERY_S,
    Track,
    VideoAnalysis,
    analyse_video,
)
from matching.video.errors import (
    AnalysisCancelled,
    CorruptVideo,
    NotAVideo,
    VideoError,
    VideoTooLarge,
    VideoTooLong,
)
from matching.video.reader import VideoInfo, VideoReader, human_duration

__all__ = [
    "DEFAULT_SAMPLE_EVERY_S",
    "AnalysisCancelled",
    "CorruptVideo",
    "NotAVideo",
    "Track",
    "VideoAnalysis",
    "VideoError",
    "VideoInfo",
    "VideoReader",
    "VideoTooLarge",
    "VideoTooLong",
    "analyse_video",
    "human_duration",
]
