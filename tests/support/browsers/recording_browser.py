"""A BROWSER that records how it was started, then hands over to another BROWSER.

    BROWSER=<shim that runs this> integray-auth add ...

Writes {"argv": [...], "environ": {...}} to OAUTH_TEST_RECORD (atomically), then execs
OAUTH_TEST_NEXT_BROWSER with the same arguments, so the flow still completes through a real
scripted browser. What it records is what any browser the user runs would see: its command
line (visible to every local user through ps) and its environment.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

if __name__ == "__main__":
    record = os.environ["OAUTH_TEST_RECORD"]
    fd, tmp = tempfile.mkstemp(prefix=".record-", dir=os.path.dirname(os.path.abspath(record)))
    with os.fdopen(fd, "w") as f:
        json.dump({"argv": sys.argv, "environ": dict(os.environ)}, f)
    os.replace(tmp, record)
    after = os.environ.get("OAUTH_TEST_NEXT_BROWSER")
    if not after:
        sys.exit(0)
    os.execv(after, [after, *sys.argv[1:]])
