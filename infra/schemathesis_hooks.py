"""schemathesis hooks for infra/schemathesis.sh: the end-clip upload's body is an MP4
file, sent as raw bytes like any binary body."""
import schemathesis

schemathesis.serializer.alias("video/mp4", "application/octet-stream")
