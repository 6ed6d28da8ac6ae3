"""Single-turn chat: `locust -f locustfiles/chat.py --host http://127.0.0.1:8000 --headless -u 5`.

Every loadgen option works here too (--api, --model, --output-tokens, ...; see --help).
"""

from loadgen.swarm.user import ChatUser


class SingleTurnChat(ChatUser):
    turns = 1
