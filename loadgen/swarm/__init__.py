"""The Locust world: user classes, load shapes and event listeners (imports gevent)."""
