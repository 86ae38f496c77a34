"""The page's JavaScript: node's unit tests of its modules (tests/js), the RTVI protocol version
it speaks, and its modules served as JavaScript under the page's CSP.

The page is ES modules loaded by the browser with no build step; `static/package.json` marks
them as modules so that node (Debian's `nodejs`, which .ci/run installs) imports them as-is.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from assistant.server.app import STATIC_DIR, create_app

ROOT = Path(__file__).resolve().parent.parent
JS_TESTS = sorted((ROOT / "tests" / "js").glob("*.test.mjs"))


def node() -> str:
    path = shutil.which("node")
    if path is None:
        reason = "needs node (.ci/run installs Debian's nodejs)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def test_the_page_modules_pass_their_node_tests(tmp_path):
    from assistant.tools.registry import tool_labels

    labels = tmp_path / "tool-labels.json"
    labels.write_text(json.dumps(tool_labels()))
    assert JS_TESTS
    result = subprocess.run(
        [node(), "--test", "--test-reporter=tap", *map(str, JS_TESTS)],
        cwd=ROOT,
        # New York: a time the page reads as local instead of UTC shows.
        env={**os.environ, "ASSISTANT_TOOL_LABELS": str(labels), "TZ": "America/New_York"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    summary = dict(re.findall(r"^# (pass|fail|skipped|todo) (\d+)$", result.stdout, re.M))
    assert int(summary["pass"]) > 0 and summary["fail"] == "0", report
    assert summary["skipped"] == "0", report  # the test of the server's labels ran


def test_the_page_speaks_pipecats_rtvi_protocol_version():
    import pipecat.processors.frameworks.rtvi.models as RTVI

    source = (STATIC_DIR / "rtvi.js").read_text()
    declared = re.search(r"^export const RTVI_PROTOCOL_VERSION = '([^']+)';$", source, re.M)
    assert declared, "rtvi.js no longer declares RTVI_PROTOCOL_VERSION"
    assert declared.group(1) == RTVI.PROTOCOL_VERSION


JAVASCRIPT = {"text/javascript", "application/javascript"}


async def test_the_page_modules_are_served_as_javascript_under_the_csp(settings, db):
    app = create_app(settings, db=db, tool_factory=lambda context: [])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as client:
        page = (await client.get("/")).text
        csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
        assert csp, "the page has no Content-Security-Policy"
        directives = dict(d.strip().split(" ", 1) for d in csp.group(1).split(";"))
        assert directives["script-src"] == "'self'"  # no inline script, nothing from elsewhere
        # One script: the entry module; it imports the rest.
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, re.S)
        assert scripts == [(' type="module" src="/static/app.js"', "")]

        served: set[str] = set()
        queue = ["app.js"]
        while queue:
            name = queue.pop()
            if name in served:
                continue
            served.add(name)
            response = await client.get(f"/static/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"].split(";")[0] in JAVASCRIPT, name
            queue += re.findall(r"from '\./([\w.-]+\.js)';", response.text)
    # Every module is reached from app.js: none is left over or missing.
    assert served == {path.name for path in STATIC_DIR.glob("*.js")}
