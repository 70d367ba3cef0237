"""Write the backend's OpenAPI schema to src/api/schema.json (run from the repository root with
the project's virtual environment; `npm run gen:api` does both steps)."""

import atexit
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Building the app writes development secrets under DATA_DIR: keep them out of ./data.
os.environ["DATA_DIR"] = tempfile.mkdtemp(prefix="multibot-openapi-")
atexit.register(shutil.rmtree, os.environ["DATA_DIR"], ignore_errors=True)

from core_server.core.app import create_application  # noqa: E402 - after DATA_DIR is set

target = Path(sys.argv[1] if len(sys.argv) > 1 else "freqtrade-ui/src/api/schema.json")
schema = create_application("full_featured").openapi()
target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
sys.stdout.write(f"wrote {target} ({len(schema['paths'])} paths)\n")
