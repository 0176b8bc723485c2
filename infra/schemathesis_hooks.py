"""schemathesis hooks for infra/schemathesis.sh: the media-profile uploads' bodies are
files (an MP4 end clip; MP3, M4A or WAV music), sent as raw bytes like any binary body."""
import schemathesis

for media_type in ("video/mp4", "audio/mpeg", "audio/mp4", "audio/wav"):
    schemathesis.serializer.alias(media_type, "application/octet-stream")
