"""`python core_server/main.py` (the seed's start command) serves the system on port 8000."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the project root importable so `core_server` resolves.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core_server.cli import serve

if __name__ == "__main__":
    serve(host="0.0.0.0", port=8000, profile=None, reload=False)  # noqa: S104 - the seed's default
