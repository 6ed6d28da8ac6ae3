"""The engine simulator: an OpenAI- and Ollama-compatible server with known scaling."""
