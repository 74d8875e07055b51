"""Triage by a local LLM: the prompt, the streaming Ollama call and the output's validation."""
