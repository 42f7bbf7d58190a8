"""The language server over its real protocol: JSON-RPC on the stdio of a `python -m policyc.lsp` process."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from policyc.lsp import word_at

TIMEOUT = 15.0  # seconds for any one answer: a hung server fails the test instead of hanging it
URI = "file:///tmp/policyc-lsp-test/visits.pol"

BROKEN = """policy visits "Visits"
  plans all
  effective 2025-01-01

codes nursing "home infusion nursing visits" = 99601, 99602

rule rn-add-on "99602 is billed only with 99601":
  addon 99602 requires 99601 on the same day by the same provider
  deny CO-107 N122

rule bad-set:
  limit nursng to 4 units per day
  deny CO-151
"""

# The fixed text: the typo is gone; `spare` is never used and writes A4221 twice (two lint warnings), and
# the emoji in its title (two UTF-16 units, one character) stands before the second warning's span.
FIXED = """policy visits "Visits"
  plans all
  effective 2025-01-01

codes nursing "home infusion nursing visits" = 99601, 99602
codes spare "pumps \U0001f489" = A4221, A4221
rule rn-add-on "99602 is billed only with 99601":
  addon 99602 requires 99601 on the same day by the same provider
  deny CO-107 N122

rule visit-cap:
  limit nursing to 4 units per day
  deny CO-151
"""


class Client:
    """A minimal LSP client: frames JSON-RPC messages with Content-Length headers and reads them on a thread."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_id = 0
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            length = None
            while (header := stream.readline()) not in (b"\r\n", b""):
                name, _, value = header.decode("ascii").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if header == b"" or length is None:
                return
            self.messages.put(json.loads(stream.read(length)))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.next_id += 1
        request_id = self.next_id
        self.send({"id": request_id, "method": method, "params": params})
        reply = self.wait(lambda m: m.get("id") == request_id and "method" not in m)
        assert "error" not in reply, reply
        return reply["result"]

    def wait(self, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The next message `wanted` accepts, skipping others (logs, progress); fails after TIMEOUT."""
        while True:
            try:
                message = self.messages.get(timeout=TIMEOUT)
            except queue.Empty:
                pytest.fail(f"the server sent nothing wanted within {TIMEOUT} s")
            if wanted(message):
                return message

    def diagnostics(self, version: int) -> list[dict[str, Any]]:
        def published(m: dict[str, Any]) -> bool:
            params = m.get("params") or {}
            return m.get("method") == "textDocument/publishDiagnostics" and params.get("version") == version

        result: list[dict[str, Any]] = self.wait(published)["params"]["diagnostics"]
        return result

    def hover(self, line: int, character: int) -> Any:
        return self.request(
            "textDocument/hover", {"textDocument": {"uri": URI}, "position": {"line": line, "character": character}}
        )


@pytest.fixture
def client() -> Iterator[Client]:
    process = subprocess.Popen(
        [sys.executable, "-m", "policyc.lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, cwd=Path(__file__).parent.parent,
    )
    lsp = Client(process)
    try:
        result = lsp.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
        assert result["capabilities"]["hoverProvider"]
        lsp.notify("initialized", {})
        yield lsp
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=TIMEOUT)


def text_at(text: str, rng: dict[str, Any]) -> str:
    """The text an LSP range covers (UTF-16 characters, as the client negotiated by default)."""
    lines = text.split("\n")

    def offset(pos: dict[str, int]) -> int:
        line = lines[pos["line"]].encode("utf-16-le")[: 2 * pos["character"]].decode("utf-16-le")
        return sum(len(x) + 1 for x in lines[: pos["line"]]) + len(line)

    return text[offset(rng["start"]) : offset(rng["end"])]


def test_diagnostics_hover_and_clean_exit(client: Client) -> None:
    client.notify(
        "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "pol", "version": 1, "text": BROKEN}}
    )
    [error] = client.diagnostics(version=1)
    assert (error["code"], error["severity"], error["source"]) == ("POL201", 1, "policyc")
    assert error["range"] == {"start": {"line": 11, "character": 8}, "end": {"line": 11, "character": 14}}
    assert text_at(BROKEN, error["range"]) == "nursng"
    assert error["message"] == "unknown code set `nursng`\nhelp: did you mean `nursing`?"

    # Hover works on the broken text too: it parses, only the checks fail.
    hover = client.hover(line=4, character=8)
    assert hover["contents"]["kind"] == "markdown"
    assert "**code set `nursing`**: home infusion nursing visits" in hover["contents"]["value"]
    assert "2 codes: 99601, 99602" in hover["contents"]["value"]
    assert text_at(BROKEN, hover["range"]) == "nursing"

    client.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [{"text": FIXED}]},
    )
    unused, twice = client.diagnostics(version=2)
    assert (unused["code"], unused["severity"]) == ("POL510", 2)
    assert unused["range"] == {"start": {"line": 5, "character": 6}, "end": {"line": 5, "character": 11}}
    assert text_at(FIXED, unused["range"]) == "spare"
    assert twice["code"] == "POL508"
    assert twice["range"] == {"start": {"line": 5, "character": 32}, "end": {"line": 5, "character": 37}}
    assert text_at(FIXED, twice["range"]) == "A4221"

    rule = client.hover(line=6, character=7)["contents"]["value"]
    assert rule.startswith("**rule `rn-add-on`** (addon): 99602 is billed only with 99601")
    assert "action: `deny CO-107 N122`" in rule
    assert client.hover(line=7, character=4) is None  # `addon` is a keyword, not a name

    assert client.request("shutdown") is None
    client.notify("exit")
    assert client.process.wait(timeout=TIMEOUT) == 0


def test_a_syntax_error_is_published_at_its_place(client: Client) -> None:
    text = FIXED.replace("deny CO-151", "deny CO151")
    client.notify(
        "textDocument/didOpen", {"textDocument": {"uri": URI, "languageId": "pol", "version": 7, "text": text}}
    )
    [error] = client.diagnostics(version=7)
    assert error["code"] == "POL101"
    assert text_at(text, error["range"]) == "CO151"
    # Nothing ever parsed in this document, so there is nothing to say on hover.
    assert client.hover(line=4, character=8) is None
    client.notify("textDocument/didClose", {"textDocument": {"uri": URI}})
    cleared = client.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics")
    assert cleared["params"]["diagnostics"] == []


def test_word_at_finds_names_only() -> None:
    text = "rule rn-add-on: limit nursing to 4"
    span = word_at(text, 7)
    assert span is not None and text[span.start : span.end] == "rn-add-on"
    span = word_at(text, 25)
    assert span is not None and text[span.start : span.end] == "nursing"
    assert word_at(text, 33) is None  # `4`: a number, not a name
