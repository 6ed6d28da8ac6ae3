"""Single-turn chat: `locust -f locustfiles/chat.py --host http://127.0.0.1:8000 --headless -u 5`.

Every loadgen flag works here too (--api, --model, --output-tokens, --influx-url, ...);
`python -m loadgen.swarm -f locustfiles/chat.py --help` lists them.
"""

from loadgen.swarm import ChatUser


class SingleTurnChat(ChatUser):
    turns = 1
