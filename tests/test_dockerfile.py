"""The image runs what the tests run: its install, start and health commands, executed here.

No Docker engine runs on these machines, so the test reads the Dockerfile and runs its
ENTRYPOINT + CMD and its HEALTHCHECK command as they are (with the config path and port
pointed at a temporary directory), after installing the package the way the image does.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.support.configs import ROOT, feed_source, write_config
from tests.support.daemon import wait_until
from tests.support.httpserver import LocalServer, closed_port

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def instruction(name: str) -> str:
    joined = DOCKERFILE.replace("\\\n", " ")
    found = re.findall(rf"^{name}\s+(.*)$", joined, flags=re.MULTILINE)
    assert len(found) == 1, f"one {name} expected"
    return str(found[0]).strip()


def exec_form(text: str) -> list[str]:
    return list(json.loads(text[text.index("[") :]))


def test_the_image_is_slim_non_root_with_a_data_volume_and_a_health_check() -> None:
    assert instruction("FROM").startswith("python:3.11-slim")
    assert instruction("USER") == "monitor"
    assert exec_form(instruction("VOLUME")) == ["/app/data"]
    assert "pip install --quiet '.[postgres]'" in DOCKERFILE
    assert "useradd" in DOCKERFILE and "--uid 10001" in DOCKERFILE
    assert exec_form(instruction("ENTRYPOINT"))[0] == "monitor"
    assert exec_form(instruction("CMD"))[0] == "run"


def test_the_image_start_and_health_commands_work_as_written(server: LocalServer, tmp_path: Path) -> None:
    url = server.add("/en.xml", (ROOT / "tests/fixtures/feeds/en_rss.xml").read_bytes())
    config = write_config(tmp_path, [feed_source("en", url)], web={"enabled": True, "listen": "127.0.0.1:9180"})
    port = closed_port()

    def localise(argv: list[str]) -> list[str]:
        out = [str(config) if a == "/app/config.yaml" else a for a in argv]
        return [a.replace(":9180", f":{port}") for a in out]

    command = localise(exec_form(instruction("ENTRYPOINT")) + exec_form(instruction("CMD")))
    health = localise(exec_form(instruction("HEALTHCHECK").split("CMD", 1)[1]))
    bin_dir = Path(sys.executable).parent
    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen([str(bin_dir / command[0]), *command[1:]], cwd=tmp_path, stderr=log)
    try:

        def healthy() -> bool:
            result = subprocess.run([str(bin_dir / health[0]), *health[1:]], capture_output=True, timeout=20)
            return result.returncode == 0

        wait_until(healthy, 30, "the HEALTHCHECK command to pass", step=0.3)
        daemon.terminate()
        assert daemon.wait(20) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        log.close()
    assert "0.0.0.0" in " ".join(command)
