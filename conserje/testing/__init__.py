"""Fakes of the outside world (Whapi, OpenAI) for tests and the demo, on 127.0.0.1."""
