"""Serves perfectly, on the wrong port."""

import os

import app

os.environ["PORT"] = "8081"
app.serve()
