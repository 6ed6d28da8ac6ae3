"""Packaged locustfile run by `loadgen swarm`: chat users configured entirely by options."""

from loadgen.swarm import ChatUser


class Chat(ChatUser):
    """Single- or multi-turn chat; --turns, --think-time and --system-prompt apply."""

    abstract = False
