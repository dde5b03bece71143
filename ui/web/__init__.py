"""The web front door: the Gradio chat UI and its guide views."""
