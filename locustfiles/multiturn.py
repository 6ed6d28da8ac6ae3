"""Multi-turn conversations: 4 turns with the history carried and 2 s of think time between turns.

`locust -f locustfiles/multiturn.py --host http://127.0.0.1:8000 --headless -u 5 -t 60s`
"""

from loadgen.swarm import ChatUser


class MultiTurnChat(ChatUser):
    turns = 4
    think_time_s = 2.0
    system_prompt = "You are a concise assistant."
