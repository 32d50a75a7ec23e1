"""The tiny reference, unchanged: the fault is in the challenge (see case.toml)."""

import app

app.serve()
