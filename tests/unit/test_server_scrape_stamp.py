"""A /metrics snapshot is stamped at the middle of its GET, not when the GET was sent: a busy
vLLM API server builds the page late, and the stamp decides which requests' first tokens fall
in the same window as the histogram deltas. Order of events only, no timing bound."""

from __future__ import annotations

import http.server
import threading
import time

from loadgen.swarm.server_scrape import ServerScrape

_PAGE = b"vllm:time_to_first_token_seconds_count 2.0\nvllm:time_to_first_token_seconds_sum 0.5\n"
_HOLD_S = 0.5  # the page is built this long after the GET arrived


def test_the_snapshot_is_stamped_between_the_get_and_its_answer() -> None:
    handled_unix_ns: list[int] = []

    class Slow(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            handled_unix_ns.append(time.time_ns())
            time.sleep(_HOLD_S)
            self.send_response(200)
            self.send_header("Content-Length", str(len(_PAGE)))
            self.end_headers()
            self.wfile.write(_PAGE)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        scrape = ServerScrape(f"http://127.0.0.1:{server.server_port}", 1.0)
        before = time.time_ns()
        scrape.scrape()
        after = time.time_ns()
    finally:
        server.shutdown()
        server.server_close()
    (snapshot,) = scrape.snapshots
    assert scrape.state == "on"
    # after the server got the GET (the send time is before it), before the answer was back
    assert before <= handled_unix_ns[0] < snapshot.wall_unix_ns < after
